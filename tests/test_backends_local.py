"""The local backend against real buildah, skopeo and docker-registry (all on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time

import pytest

from koji_containerbuild.backends.base import BackendError, Outcome
from koji_containerbuild.backends.local import build as local_build
from koji_containerbuild.backends.local import buildah as bh
from tests.local_backend_fixture import (  # noqa: F401 - fixtures
    HOST,
    backend,
    make_request,
    registry_digest,
    registry_tags,
    settings,
)


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


def test_failed_archive_step_withdraws_the_image_pushed_alongside(
    tmp_path, backend, settings, base_image, monkeypatch
):
    def failing_archive(runner, arch, image_id, local_ref):
        # the image's push runs meanwhile: let it reach the registry first
        deadline = time.monotonic() + 60
        while not runner.journal["digests"] and time.monotonic() < deadline:
            time.sleep(0.05)
        raise local_build.BuildFailed("Writing the image archive failed: disk full")

    monkeypatch.setattr(local_build.Runner, "describe_image", failing_archive)  # the runner forks
    request = make_request(
        tmp_path, f"FROM {base_image}\nRUN true\n", name="demo/halfway", release="halfway"
    )
    result = backend.wait(backend.start(request))

    assert result.outcome is Outcome.FAILED
    assert result.reason == "Writing the image archive failed: disk full"
    assert registry_tags(settings, "demo/halfway") == []


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


def test_cleanup_removes_the_local_image(tmp_path, backend, settings, base_image):
    request = make_request(tmp_path, f"FROM {base_image}\nRUN true\n", release="rmi")
    handle = backend.start(request)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED
    ref = bh.local_image_ref(handle, HOST)
    exists = bh.buildah_cmd(bh.settings_dict(settings), "inspect", "--type", "image", ref)
    assert bh.run(exists).returncode == 0

    backend.cleanup(handle)

    assert bh.run(exists).returncode != 0


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
