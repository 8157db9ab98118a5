"""The local backend against real buildah, skopeo and docker-registry (all on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time

import pytest

from koji_containerbuild.backends.base import BackendError, BuildRequest, Outcome
from koji_containerbuild.backends.local import build as local_build
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local.backend import LocalBackend
from koji_containerbuild.backends.local.procs import runner_tree
from koji_containerbuild.hostarch import host_arch
from tests.local_backend_fixture import backend, settings  # noqa: F401 - fixtures

HOST = host_arch()


def make_request(tmp_path, dockerfile: str, *, name="demo/app", release="1", **kw):
    source = tmp_path / f"source-{time.monotonic_ns()}"
    source.mkdir()
    (source / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    values = dict(
        kind="binary",
        task_id=42,
        owner="alice",
        target="demo",
        component="app",
        platforms=[HOST],
        source_dir=str(source),
        dockerfile="Dockerfile",
        name=name,
        version="1.0",
        release=release,
        additional_tags=["stable"],
    )
    values.update(kw)
    return BuildRequest(**values)


def registry_digest(settings, ref):
    return bh.registry_digest(bh.settings_dict(settings), ref)


def collect_logs(backend, handle):
    return list(backend.logs(handle))


def test_build_pushes_every_tag_and_the_digest(tmp_path, backend, settings, base_image):
    request = make_request(
        tmp_path, f"FROM {base_image}\nRUN echo built > /greeting\n", release="7"
    )
    handle = backend.start(request)
    result = backend.wait(handle)

    assert result.outcome is Outcome.SUCCEEDED, result.reason
    repo = f"{settings.registry}/demo/app"
    [image] = result.images
    digest = image.digests[bh.MANIFEST_V2]
    tags = image.tags
    assert tags[1:] == ["1.0-7", "latest", "1.0", "stable"] and tags[0].startswith("1.0-7-42-")
    for tag in tags:
        assert registry_digest(settings, f"{repo}:{tag}") == digest
    assert sorted(result.repositories) == sorted(
        [f"{repo}:{tag}" for tag in tags] + [f"{repo}@{digest}"]
    )
    assert result.platforms == [HOST] and image.arch == HOST


def registry_tags(settings, repository: str) -> list[str]:
    done = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", f"docker://{settings.registry}/{repository}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return sorted(json.loads(done.stdout)["Tags"]) if done.returncode == 0 else []


def test_scratch_build_pushes_only_its_unique_tag(tmp_path, backend, settings, base_image):
    request = make_request(
        tmp_path, f"FROM {base_image}\nRUN echo s > /s\n", name="demo/scratch", scratch=True
    )
    result = backend.wait(backend.start(request))

    assert result.outcome is Outcome.SUCCEEDED, result.reason
    [image] = result.images
    assert len(image.tags) == 1 and image.tags[0].startswith("1.0-1-42-")
    assert registry_tags(settings, "demo/scratch") == image.tags


def test_isolated_build_pushes_unique_and_version_release_only(
    tmp_path, backend, settings, base_image
):
    request = make_request(
        tmp_path,
        f"FROM {base_image}\nRUN echo i > /i\n",
        name="demo/isolated",
        isolated=True,
        release="1.1",
    )
    result = backend.wait(backend.start(request))

    assert result.outcome is Outcome.SUCCEEDED, result.reason
    [image] = result.images
    assert image.tags[1:] == ["1.0-1.1"]
    assert registry_tags(settings, "demo/isolated") == sorted(image.tags)
    assert sorted(r.rsplit(":", 1)[1] for r in result.repositories if "@" not in r) == sorted(
        image.tags
    )


def test_image_output_describes_the_pushed_image(tmp_path, backend, settings, base_image):
    request = make_request(tmp_path, f"FROM {base_image}\nRUN echo built > /greeting\n")
    result = backend.wait(backend.start(request))

    [image] = result.images
    base_id = subprocess.run(
        [
            "buildah",
            "--root",
            settings.storage_root,
            "--runroot",
            settings.storage_runroot,
            "--storage-driver",
            "vfs",
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.FromImageID}}",
            base_image,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert image.parent_id == f"sha256:{base_id}"
    assert image.config["rootfs"]["diff_ids"] == [s["diff_id"] for s in image.layer_sizes]
    assert len(image.layer_sizes) == 2 and all(s["size"] > 0 for s in image.layer_sizes)
    assert image.config["config"]["Labels"]["release"] == "1"
    assert image.archive_path.endswith(f".{HOST}.tar.gz")
    with tarfile.open(image.archive_path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    assert manifest[0]["Config"].replace(".json", "") == image.image_id.split(":")[1]
    assert image.components == []  # busybox has no RPM database
    assert image.buildroot_components == local_build.host_rpms()
    assert {tool["name"] for tool in image.tools} == {"buildah", "skopeo"}


def test_parent_image_replaces_the_from_line(tmp_path, backend, base_image):
    request = make_request(
        tmp_path, "FROM example.invalid/never-pulled:1\nRUN test -x /bin/busybox\n",
        parent_image=base_image,
    )  # fmt: skip
    result = backend.wait(backend.start(request))
    assert result.outcome is Outcome.SUCCEEDED, result.reason


def test_logs_stream_each_line_with_its_platform(tmp_path, backend, base_image):
    request = make_request(
        tmp_path,
        f"""\
        FROM {base_image}
        RUN echo first-line && echo second-line && echo on-stderr >&2 && printf 'bad \\377 byte\\n'
        """,
    )
    handle = backend.start(request)
    lines = collect_logs(backend, handle)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED

    texts = [line for platform, line in lines if platform == HOST]
    # stdout lines keep their order; stderr is kept, but where it lands between
    # them is up to how buildah interleaves the two streams
    stdout = [line for line in texts if line in ("first-line", "second-line")]
    assert stdout == ["first-line", "second-line"]
    assert "on-stderr" in texts
    assert b"bad \xff byte" in [line for line in texts if isinstance(line, bytes)]
    assert all("\n" not in line for line in texts if isinstance(line, str))
    assert any(platform is None and line.startswith("Build finished") for platform, line in lines)


def test_failing_run_fails_with_a_reason_and_pushes_nothing(
    tmp_path, backend, settings, base_image
):
    request = make_request(
        # the pause: under load, buildah (chroot isolation) was once seen printing
        # nothing of a RUN that exits at once; this test is about keeping what it prints
        tmp_path,
        f"FROM {base_image}\nRUN echo about-to-fail && sleep 0.5 && exit 3\n",
        release="fail",
    )
    handle = backend.start(request)
    lines = collect_logs(backend, handle)
    result = backend.wait(handle)

    assert result.outcome is Outcome.FAILED
    assert f"image build for {HOST} failed" in result.reason
    assert "about-to-fail" in [line for _, line in lines]
    repo = f"{settings.registry}/demo/app"
    assert registry_digest(settings, f"{repo}:1.0-fail") is None


def running_processes_of(runner):
    return sorted(runner_tree(runner["pid"], runner["pgid"]))


def test_cancel_stops_every_process_and_pushes_no_tag(tmp_path, backend, settings, base_image):
    request = make_request(
        tmp_path,
        f"FROM {base_image}\nRUN echo sleeping-now && sleep 60\n",
        release="cancel",
    )
    handle = backend.start(request)
    for _platform, line in backend.logs(handle):
        if line == "sleeping-now":
            break
    runner = bh.read_json(os.path.join(settings.state_dir, handle, bh.RUNNER_FILE))
    assert running_processes_of(runner)

    backend.cancel(handle)

    assert running_processes_of(runner) == []
    assert backend.wait(handle).outcome is Outcome.CANCELLED
    repo = f"{settings.registry}/demo/app"
    assert registry_digest(settings, f"{repo}:1.0-cancel") is None
    backend.cancel(handle)  # a second cancel of an ended build is harmless


def test_cancel_withdraws_pushed_unique_tags(tmp_path, backend, settings, base_image):
    repo = f"{settings.registry}/demo/withdrawn"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{base_image}",
            f"docker://{repo}:1-1-9-20250101",
        ],
        check=True,
    )
    build_dir = tmp_path / "fake-build"
    build_dir.mkdir()
    bh.write_json(
        str(build_dir / bh.PUSHED_FILE),
        {"repository": repo, "unique_tags": ["1-1-9-20250101"], "digests": []},
    )

    assert bh.withdraw_pushes(str(build_dir), bh.settings_dict(settings)) == []
    assert registry_digest(settings, f"{repo}:1-1-9-20250101") is None
    assert registry_digest(settings, base_image) is not None


STARTER = """
import sys, time
from koji_containerbuild.backends.local.backend import create
from koji_containerbuild.backends.base import BuildRequest
from koji_containerbuild.config import LocalSettings
from koji_containerbuild.hostarch import host_arch
import json
settings, request = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(create(LocalSettings(**settings)).start(BuildRequest(**request)), flush=True)
time.sleep(600)
"""


def test_build_survives_the_task_process_and_is_followed_again(
    tmp_path, backend, settings, base_image
):
    import dataclasses

    request = make_request(
        tmp_path, f"FROM {base_image}\nRUN sleep 2 && echo after-restart\n", release="re"
    )
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            STARTER,
            json.dumps(dataclasses.asdict(settings)),
            json.dumps(dataclasses.asdict(request)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    handle = starter.stdout.readline().strip()
    starter.send_signal(signal.SIGKILL)
    starter.wait()

    follower = LocalBackend(settings)
    assert follower.lookup(handle)
    lines = [line for _, line in follower.logs(handle)]
    result = follower.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED, result.reason
    assert "after-restart" in lines
    repo = f"{settings.registry}/demo/app"
    assert registry_digest(settings, f"{repo}:1.0-re") == result.images[0].digests[bh.MANIFEST_V2]


def test_an_arch_the_machine_cannot_run_is_refused_with_advice(
    tmp_path, backend, base_image, monkeypatch
):
    other = "s390x" if HOST != "s390x" else "x86_64"
    # a binfmt_misc without a qemu entry for it (this machine may have one registered)
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    monkeypatch.setattr(bh, "BINFMT_DIR", str(binfmt))
    request = make_request(tmp_path, f"FROM {base_image}\n", platforms=[HOST, other])
    with pytest.raises(BackendError) as error:
        backend.start(request)
    assert other in str(error.value) and (
        "option 'arch_override' (koji: --arch-override, fedpkg: --arches) to " + HOST
    ) in str(error.value)
    assert os.listdir(backend.state_dir) == []


@pytest.mark.parametrize("name", ["Dockerfile", ".dockerignore", ".containerignore"])
def test_a_file_buildah_opens_on_the_host_may_not_lead_out(tmp_path, backend, base_image, name):
    request = make_request(tmp_path, f"FROM {base_image}\n")
    host_file = tmp_path / "host-file"
    host_file.write_text(f"FROM {base_image}\n")
    link = os.path.join(request.source_dir, name)
    if os.path.exists(link):
        os.unlink(link)
    os.symlink(host_file, link)
    with pytest.raises(BackendError, match=f"The source file {name!r} is a symlink"):
        backend.start(request)
    assert os.listdir(backend.state_dir) == []


def test_binfmt_emulation_makes_an_arch_buildable(tmp_path):
    other = "aarch64" if HOST != "aarch64" else "x86_64"
    entry = bh.ARCHES[other][1]
    (tmp_path / "status").write_text("enabled\n")
    assert not bh.can_run_arch(other, str(tmp_path))
    (tmp_path / entry).write_text("enabled\ninterpreter /usr/bin/qemu\nflags: PF\n")
    assert bh.can_run_arch(other, str(tmp_path))
    (tmp_path / entry).write_text("disabled\n")
    assert not bh.can_run_arch(other, str(tmp_path))


OTHER_ARCH = "aarch64" if HOST != "aarch64" else "x86_64"
OTHER_ENTRY = bh.ARCHES[OTHER_ARCH][1]


def test_emulation_problem_says_binfmt_misc_is_not_mounted(tmp_path):
    assert bh.emulation_problem(OTHER_ARCH, str(tmp_path)) == (
        f"binfmt_misc is not mounted at {tmp_path}, so this machine cannot run {OTHER_ARCH} "
        f"binaries; mount it (mount -t binfmt_misc binfmt_misc {tmp_path}) and install "
        f"qemu-user-static."
    )


def test_emulation_problem_names_the_missing_qemu_entry(tmp_path):
    (tmp_path / "status").write_text("enabled\n")
    assert bh.emulation_problem(OTHER_ARCH, str(tmp_path)) == (
        f"No binfmt_misc entry {OTHER_ENTRY} is registered, so this machine cannot run "
        f"{OTHER_ARCH} binaries; install qemu-user-static (it registers {OTHER_ENTRY})."
    )


def test_emulation_problem_asks_for_the_fix_binary_flag(tmp_path):
    # without F the kernel looks for qemu inside buildah's chroot, where it is not
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / OTHER_ENTRY).write_text("enabled\ninterpreter /usr/bin/qemu\nflags: P\n")
    assert bh.emulation_problem(OTHER_ARCH, str(tmp_path)) == (
        f"The binfmt_misc entry {OTHER_ENTRY} lacks the F (fix-binary) flag, so {OTHER_ARCH} "
        f"binaries cannot run inside buildah's chroot; register it again with flag F."
    )


def test_emulation_problem_is_none_for_the_machines_own_arch(tmp_path):
    assert bh.emulation_problem(HOST, str(tmp_path)) is None


def test_emulation_problem_knows_no_emulator_for_an_unknown_arch(tmp_path):
    assert bh.emulation_problem("ia64", str(tmp_path)) == (
        "No emulator is known for arch ia64; a builder of that arch has to build it."
    )


def test_lookup_knows_only_its_own_build_dirs(backend):
    assert not backend.lookup("no-such-build")
    assert not backend.lookup("../../etc")
    assert not backend.lookup("")


def test_cleanup_removes_archives_but_keeps_the_outcome(tmp_path, backend, base_image):
    request = make_request(tmp_path, f"FROM {base_image}\nRUN true\n", release="clean")
    handle = backend.start(request)
    result = backend.wait(handle)
    archive = result.images[0].archive_path
    assert os.path.isfile(archive)

    backend.cleanup(handle)

    assert not os.path.exists(archive)
    assert backend.lookup(handle)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED


TINY_SPEC = """\
Name: tiny
Version: 1.2
Release: 3
Summary: A package with no files, for an RPM database in a test image
License: MIT
BuildArch: noarch
%description
tiny
%files
"""


def make_rpmdb(tmp_path, source_dir):
    """An RPM database holding one package, in the build context as rpmdb/."""
    (tmp_path / "tiny.spec").write_text(TINY_SPEC)
    top = tmp_path / "rpmbuild"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {top}", str(tmp_path / "tiny.spec")],
        check=True,
        capture_output=True,
    )
    [rpm_file] = (top / "RPMS" / "noarch").iterdir()
    root = tmp_path / "rpmroot"
    install = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--justdb"]
    subprocess.run(
        [*install, "--nodeps", str(rpm_file)],
        check=True,
        capture_output=True,
    )
    os.rename(root / "var" / "lib" / "rpm", os.path.join(source_dir, "rpmdb"))


def test_components_list_the_rpms_of_an_image_with_an_rpm_database(tmp_path, backend, base_image):
    request = make_request(
        tmp_path, f"FROM {base_image}\nCOPY rpmdb/ /var/lib/rpm/\n", release="rpm"
    )
    make_rpmdb(tmp_path, request.source_dir)
    result = backend.wait(backend.start(request))

    assert result.outcome is Outcome.SUCCEEDED, result.reason
    [component] = result.images[0].components
    assert component["type"] == "rpm"
    assert (component["name"], component["version"], component["release"]) == ("tiny", "1.2", "3")
    assert component["arch"] == "noarch" and component["epoch"] is None
    assert len(component["sigmd5"]) == 32 and component["signature"] is None


def test_waiting_for_an_unknown_build_says_so(backend):
    with pytest.raises(BackendError, match="no local build 'gone-1'"):
        backend.wait("gone-1")
