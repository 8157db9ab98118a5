"""End to end: multi-arch builds across the two hosts of the two-arch sandbox.

Real koji CLI, two real workers (builder: this machine's arch; builder2:
OTHER_ARCH through qemu), real buildah builds: the parent buildContainer task
makes one buildContainerArch subtask per arch, each runs on the host of its
arch, and the parent pushes one manifest list and imports one Koji build.
"""

from __future__ import annotations

import glob
import json
import os
import signal

import koji
import pytest

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.sandbox.env import runtime
from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.fork import task_pid_file
from tests.e2e.conftest import OTHER_ARCH
from tests.e2e.test_e2e import (
    UNIQUE,
    build,
    dockerfile,
    publish,
    registry_tags,
    skopeo,
    task_state,
    wait_for,
)

pytestmark = pytest.mark.e2e

NATIVE = runtime.host_arch()
ARCHES = sorted([NATIVE, OTHER_ARCH])


# session scope: under xdist one module's tests may be split across runs of a
# worker, and a module fixture made again would build the same NVR twice
@pytest.fixture(scope="session")
def session(two_arch_sandbox):
    return two_arch_sandbox.session(runtime.USER)


def subtasks(session, task_id: int) -> dict[str, dict]:
    return {child["arch"]: child for child in session.getTaskChildren(task_id)}


def build_state(session, nvr: str) -> str | None:
    info = session.getBuild(nvr)
    return info and koji.BUILD_STATES[info["state"]]


@pytest.fixture(scope="session")
def two_arch_build(two_arch_sandbox, session, tmp_path_factory):
    """One normal two-arch build, run to its end: (task id, Koji build)."""
    tmp_path = tmp_path_factory.mktemp("two-arch")
    url = publish(
        two_arch_sandbox, tmp_path, "e2e-two-arch", dockerfile("e2e-two-arch", "1", "uname -m")
    )
    done, task_id = build(two_arch_sandbox, url)
    assert done.returncode == 0, done.stdout + done.stderr
    return task_id, session.getBuild("e2e-two-arch-1.0-1")


def test_two_arch_build_ends_as_one_koji_build(session, two_arch_build):
    task_id, koji_build = two_arch_build
    result = session.getTaskResult(task_id)
    assert (result["koji_builds"], koji.BUILD_STATES[koji_build["state"]]) == (
        [str(koji_build["id"])],
        "COMPLETE",
    )


def test_two_arch_build_has_an_image_output_of_each_arch(session, two_arch_build):
    _, koji_build = two_arch_build
    archives = session.listArchives(buildID=koji_build["id"], type="image")
    assert sorted(a["extra"]["image"]["arch"] for a in archives) == ARCHES


def test_each_arch_was_built_by_a_subtask_on_the_host_of_that_arch(session, two_arch_build):
    task_id, _ = two_arch_build
    hosts = {
        arch: session.getHost(child["host_id"])["arches"]
        for arch, child in subtasks(session, task_id).items()
    }
    assert hosts == {arch: arch for arch in ARCHES}


def manifest_list(pull: str) -> dict:
    done = skopeo("inspect", "--raw", f"docker://{pull}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_manifest_list_has_one_entry_of_each_arch(session, two_arch_build):
    _, koji_build = two_arch_build
    pull = koji_build["extra"]["image"]["index"]["pull"][0]
    entries = manifest_list(pull)["manifests"]
    assert sorted(e["platform"]["architecture"] for e in entries) == sorted(
        bh.oci_arch(arch) for arch in ARCHES
    )


def inspect(*args: str) -> dict:
    done = skopeo("inspect", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_list_entry_is_an_image_of_its_arch(session, two_arch_build):
    _, koji_build = two_arch_build
    pull = koji_build["extra"]["image"]["index"]["pull"][0]  # repository@list digest
    repository = pull.split("@", 1)[0]
    entries = manifest_list(pull)["manifests"]
    found = {
        e["platform"]["architecture"]: inspect(f"docker://{repository}@{e['digest']}")[
            "Architecture"
        ]
        for e in entries
    }
    assert found == {bh.oci_arch(arch): bh.oci_arch(arch) for arch in ARCHES}


def test_pulling_the_tag_for_each_arch_gets_that_arch_entry(session, two_arch_build):
    _, koji_build = two_arch_build
    pull = koji_build["extra"]["image"]["index"]["pull"][1]  # repository:version-release
    repository = pull.rsplit(":", 1)[0]
    entries = {
        e["platform"]["architecture"]: e["digest"] for e in manifest_list(pull)["manifests"]
    }
    layers = {
        oci: (
            inspect("--override-arch", oci, f"docker://{pull}")["Layers"],
            inspect(f"docker://{repository}@{digest}")["Layers"],
        )
        for oci, digest in entries.items()
    }
    same = {oci: by_arch == by_digest for oci, (by_arch, by_digest) in layers.items()}
    assert same == {bh.oci_arch(arch): True for arch in ARCHES}


def test_the_koji_build_records_the_digest_of_each_arch_image(session, two_arch_build):
    _, koji_build = two_arch_build
    pull = koji_build["extra"]["image"]["index"]["pull"][0]
    listed = {e["platform"]["architecture"]: e["digest"] for e in manifest_list(pull)["manifests"]}
    archives = session.listArchives(buildID=koji_build["id"], type="image")
    recorded = {
        bh.oci_arch(a["extra"]["image"]["arch"]): list(a["extra"]["docker"]["digests"].values())
        for a in archives
    }
    assert recorded == {oci: [digest] for oci, digest in listed.items()}


def test_two_arch_build_pushes_only_its_tags(two_arch_sandbox, two_arch_build):
    tags = registry_tags(two_arch_sandbox, "e2e/e2e-two-arch")
    assert sorted(t for t in tags if not t.startswith("1.0-1-")) == ["1.0", "1.0-1", "latest"]


def test_one_arch_failing_cancels_the_other_and_refunds(two_arch_sandbox, session, tmp_path):
    marker = f"e2e-half-{UNIQUE}"
    run = (
        f'if [ "$(uname -m)" = {OTHER_ARCH} ]; then sleep 2; exit 3; fi; '
        f'while :; do echo "{marker}"; sleep 0.1; done'
    )
    url = publish(two_arch_sandbox, tmp_path, "e2e-half", dockerfile("e2e-half", "1", run))
    _, task_id = build(two_arch_sandbox, url)
    children = subtasks(session, task_id)
    wait_for(lambda: not proctree.processes_matching(marker), timeout=60)
    fault = session.getTaskResult(task_id, raise_fault=False)["faultString"]
    assert (
        task_state(session, task_id),
        {arch: koji.TASK_STATES[c["state"]] for arch, c in subtasks(session, task_id).items()},
        build_state(session, "e2e-half-1.0-1"),
        registry_tags(two_arch_sandbox, "e2e/e2e-half"),
        fault.startswith(f"The {OTHER_ARCH} build (task {children[OTHER_ARCH]['id']}) failed: "),
    ) == ("FAILED", {OTHER_ARCH: "FAILED", NATIVE: "CANCELED"}, "FAILED", [], True)


def subtask_pid(sandbox, task_id: int) -> int:
    with open(task_pid_file(sandbox.task_logs_of(task_id), task_id), encoding="utf-8") as handle:
        return json.load(handle)["pid"]


def test_kill_of_an_arch_subtask_process_is_a_failed_arch(two_arch_sandbox, session, tmp_path):
    marker = f"e2e-killed-{UNIQUE}"
    run = f'while :; do echo "{marker} $(uname -m)"; sleep 0.1; done'
    url = publish(two_arch_sandbox, tmp_path, "e2e-killed", dockerfile("e2e-killed", "1", run))
    _, task_id = build(two_arch_sandbox, url, wait=False)
    wait_for(lambda: len(proctree.processes_matching(marker)) >= 2, timeout=180)
    victim = subtasks(session, task_id)[OTHER_ARCH]["id"]
    os.kill(subtask_pid(two_arch_sandbox, victim), signal.SIGKILL)
    wait_for(lambda: task_state(session, task_id) == "FAILED", timeout=120)
    wait_for(lambda: not proctree.processes_matching(marker), timeout=60)
    fault = session.getTaskResult(task_id, raise_fault=False)["faultString"]
    assert (
        task_state(session, victim),
        build_state(session, "e2e-killed-1.0-1"),
        registry_tags(two_arch_sandbox, "e2e/e2e-killed"),
        fault.startswith(f"The {OTHER_ARCH} build (task {victim}) failed: "),
    ) == ("FAILED", "FAILED", [], True)


def test_kill_of_the_parent_process_stops_both_arch_builds(two_arch_sandbox, session, tmp_path):
    marker = f"e2e-orphans-{UNIQUE}"
    run = f'while :; do echo "{marker} $(uname -m)"; sleep 0.1; done'
    url = publish(two_arch_sandbox, tmp_path, "e2e-orphans", dockerfile("e2e-orphans", "1", run))
    _, task_id = build(two_arch_sandbox, url, wait=False)
    wait_for(lambda: len(proctree.processes_matching(marker)) >= 2, timeout=180)
    os.kill(subtask_pid(two_arch_sandbox, task_id), signal.SIGKILL)
    wait_for(lambda: not proctree.processes_matching(marker), timeout=120)
    wait_for(
        lambda: all(
            c["state"] != koji.TASK_STATES["OPEN"] for c in subtasks(session, task_id).values()
        ),
        timeout=120,
    )
    assert (
        task_state(session, task_id),
        {arch: koji.TASK_STATES[c["state"]] for arch, c in subtasks(session, task_id).items()},
        registry_tags(two_arch_sandbox, "e2e/e2e-orphans"),
    ) == ("FAILED", {a: "CANCELED" for a in ARCHES}, [])


def test_worker_restart_while_the_parent_waits_builds_each_arch_once(
    two_arch_sandbox, session, tmp_path
):
    marker = f"e2e-restart-{UNIQUE}"
    run = f'for i in $(seq 1 60); do echo "{marker} $(uname -m)"; sleep 0.1; done'
    url = publish(two_arch_sandbox, tmp_path, "e2e-restart", dockerfile("e2e-restart", "1", run))
    _, task_id = build(two_arch_sandbox, url, wait=False)
    # both arches build (past their checkout, which a kojid stop would fail)
    wait_for(lambda: len(proctree.processes_matching(marker)) >= 2, timeout=180)
    host = session.getHost(session.getTaskInfo(task_id)["host_id"])["name"]
    two_arch_sandbox.stop_worker(host=host)  # kojid restarts: the parent is freed, runs again
    two_arch_sandbox.start_worker(host=host)
    wait_for(lambda: task_state(session, task_id) in ("CLOSED", "FAILED"), timeout=600)
    children = subtasks(session, task_id)
    local_builds = {
        arch: len(glob.glob(f"{two_arch_sandbox.paths.local}/{child['id']}-*/build.json"))
        for arch, child in children.items()
    }
    assert (
        task_state(session, task_id),
        {arch: koji.TASK_STATES[c["state"]] for arch, c in children.items()},
        local_builds,
        build_state(session, "e2e-restart-1.0-1"),
    ) == ("CLOSED", {a: "CLOSED" for a in ARCHES}, {a: 1 for a in ARCHES}, "COMPLETE")


def test_eight_concurrent_two_arch_builds_over_two_hosts_all_complete(
    two_arch_sandbox, session, tmp_path
):
    tasks = []
    for number in range(8):
        name = f"e2e-many-{number}"
        url = publish(two_arch_sandbox, tmp_path, name, dockerfile(name, "1", "uname -m"))
        tasks.append(build(two_arch_sandbox, url, wait=False)[1])
    wait_for(
        lambda: all(task_state(session, t) not in ("FREE", "OPEN", "ASSIGNED") for t in tasks),
        timeout=1500,
        interval=2,
    )
    assert [task_state(session, t) for t in tasks] == ["CLOSED"] * 8
