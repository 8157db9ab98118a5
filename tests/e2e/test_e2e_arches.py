"""End to end: a second arch on this machine, through qemu, and a sandbox of two hosts.

The base images are built with the real buildah (vfs storage, chroot
isolation, as the sandbox runs it) into storage of their own; the two-host
sandbox runs one worker per host and builds the demo image for both arches.
Without qemu's binfmt entry these tests are skipped, saying why; under CI they fail.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.sandbox.env import baseimage, layout, runtime
from tests.e2e.conftest import OTHER_ARCH, missing_tools, other_arch_problem, require

pytestmark = pytest.mark.e2e

NATIVE = runtime.host_arch()


def buildah(paths: layout.Paths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*layout.buildah_base_args(paths), *args], capture_output=True, text=True, check=False
    )


def image_arch(paths: layout.Paths, name: str) -> str:
    done = buildah(paths, "inspect", "--type", "image", name)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["OCIv1"]["architecture"]


@pytest.fixture(scope="module")
def base_paths(tmp_path_factory):
    """Storage holding the base manifest list of this machine's arch and OTHER_ARCH."""
    require("end-to-end tests need buildah" if "buildah" in missing_tools() else None)
    require(other_arch_problem())
    paths = layout.Paths(str(tmp_path_factory.mktemp("bases")))
    paths.make()
    baseimage.build_base_image(paths, os.path.join(paths.logs, "base.log"), [NATIVE, OTHER_ARCH])
    return paths


def run_step_output(paths: layout.Paths, tmp_path, arch: str) -> list[str]:
    """The lines a ``RUN uname -m`` step prints in a build FROM the base for ``arch``."""
    (tmp_path / "Dockerfile").write_text(f"FROM {runtime.BASE_IMAGE}\nRUN uname -m\n")
    done = buildah(
        paths, "bud", "--isolation", "chroot", "--pull=never",
        "--platform", f"linux/{bh.oci_arch(arch)}", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_the_other_arch_base_image_is_linux_of_that_arch(base_paths):
    assert image_arch(base_paths, baseimage.arch_image(OTHER_ARCH)) == bh.oci_arch(OTHER_ARCH)


def test_the_base_name_is_a_manifest_list_of_both_arches(base_paths):
    assert baseimage.listed_arches(base_paths) == [NATIVE, OTHER_ARCH]


def test_a_run_step_in_the_other_arch_base_runs_under_qemu(base_paths, tmp_path):
    assert OTHER_ARCH in run_step_output(base_paths, tmp_path, OTHER_ARCH)


def test_a_build_for_this_machines_arch_gets_the_native_base(base_paths, tmp_path):
    assert NATIVE in run_step_output(base_paths, tmp_path, NATIVE)


def test_the_plain_base_of_an_older_sandbox_becomes_the_native_arch_image(tmp_path):
    require("end-to-end tests need buildah" if "buildah" in missing_tools() else None)
    require(other_arch_problem())
    paths = layout.Paths(str(tmp_path / "state"))
    paths.make()
    log = os.path.join(paths.logs, "base.log")
    baseimage.build_arch_image(paths, NATIVE, log)
    assert buildah(paths, "tag", baseimage.arch_image(NATIVE), runtime.BASE_IMAGE).returncode == 0
    assert buildah(paths, "rmi", baseimage.arch_image(NATIVE)).returncode == 0
    baseimage.build_base_image(paths, log, [NATIVE, OTHER_ARCH])
    assert baseimage.listed_arches(paths) == [NATIVE, OTHER_ARCH]


# ---------------------------------------------------------------- two hosts


def test_each_host_of_the_two_arch_sandbox_has_its_arch_on_the_hub(two_arch_sandbox):
    hosts = two_arch_sandbox.session("admin").listHosts(channelID=runtime.CHANNEL, enabled=True)
    assert [(host["name"], host["arches"]) for host in hosts] == [
        ("builder", NATIVE),
        ("builder2", OTHER_ARCH),
    ]


def test_each_host_of_the_two_arch_sandbox_runs_its_own_worker(two_arch_sandbox):
    workers = two_arch_sandbox.workers
    assert sorted(workers) == ["builder", "builder2"]
    assert all(worker.poll() is None for worker in workers.values())
    assert workers["builder"].pid != workers["builder2"].pid


def test_the_two_arch_sandbox_demo_tag_lists_both_arches(two_arch_sandbox):
    tag = two_arch_sandbox.session().getBuildConfig(runtime.BUILD_TAG)
    assert tag["arches"].split() == [NATIVE, OTHER_ARCH]


def test_the_other_hosts_builder_config_builds_its_arch(two_arch_sandbox):
    from koji_containerbuild.config import load_builder_config

    path = two_arch_sandbox.paths.host_builder_config("builder2")
    assert load_builder_config(path).arch == OTHER_ARCH


@pytest.fixture(scope="module")
def demo_task(two_arch_sandbox) -> dict:
    """The buildContainer task of one demo build on the two-host sandbox."""
    from koji_containerbuild.sandbox.env import demo

    assert demo.run_demo(runtime.read_info(two_arch_sandbox.paths.state)) == 0
    session = two_arch_sandbox.session()
    query = {"order": "-id", "limit": 1}
    return session.listTasks(opts={"method": "buildContainer"}, queryOpts=query)[0]


def test_a_demo_build_on_two_hosts_pushes_an_image_of_each_arch(two_arch_sandbox, demo_task):
    [build_id] = two_arch_sandbox.session().getTaskResult(demo_task["id"])["koji_builds"]
    build = two_arch_sandbox.session().getBuild(int(build_id))
    pull = build["extra"]["image"]["index"]["pull"][0]
    raw = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{pull}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    platforms = [m["platform"]["architecture"] for m in json.loads(raw.stdout)["manifests"]]
    assert sorted(platforms) == sorted([bh.oci_arch(NATIVE), bh.oci_arch(OTHER_ARCH)])


def test_a_tasks_log_is_in_the_log_directory_of_the_host_that_took_it(two_arch_sandbox, demo_task):
    host = two_arch_sandbox.session().getHost(demo_task["host_id"])["name"]
    log_dir = two_arch_sandbox.task_logs_of(demo_task["id"])
    assert log_dir == two_arch_sandbox.paths.task_logs(host)
    assert os.path.exists(os.path.join(log_dir, f"task-{demo_task['id']}.log"))
