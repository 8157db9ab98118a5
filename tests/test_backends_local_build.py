"""Steps of a local build that need no buildah: host RPMs, the image's RPM database."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

from koji_containerbuild.backends import local_build


def fake_rpm(tmp_path, monkeypatch, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rpm").write_text("#!/bin/sh\n" + script)
    (bin_dir / "rpm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_host_rpms_are_listed_in_cg_component_form(tmp_path, monkeypatch):
    fake_rpm(
        tmp_path,
        monkeypatch,
        "printf 'rpm\\t4.20.1\\t1.fc42\\t(none)\\tx86_64\\tabc\\t(none)\\t"
        "RSA/SHA256, Key ID 105ef944\\n'\n"
        "printf 'gpg-pubkey\\t105ef944\\t1\\t(none)\\t(none)\\t(none)\\t(none)\\t(none)\\n'\n",
    )
    assert local_build.host_rpms() == [
        {
            "type": "rpm",
            "name": "rpm",
            "version": "4.20.1",
            "release": "1.fc42",
            "epoch": None,
            "arch": "x86_64",
            "sigmd5": "abc",
            "signature": "105ef944",
        }
    ]


def test_host_rpms_of_a_failing_query_are_none(tmp_path, monkeypatch):
    fake_rpm(tmp_path, monkeypatch, "echo 'error: cannot open Packages database' >&2; exit 1\n")
    assert local_build.host_rpms() == []


def test_host_rpms_are_what_the_machine_rpm_database_holds():
    # Debian's rpm has an empty database (no components); a Fedora builder lists its RPMs.
    listed = subprocess.run(
        ["rpm", "-qa", "--qf", "%{NAME}\\n"], capture_output=True, text=True, check=False
    ).stdout.split()
    expected = sorted(name for name in listed if name != "gpg-pubkey")
    assert sorted(c["name"] for c in local_build.host_rpms()) == expected


def docker_archive(tmp_path, layers: list[dict[str, bytes]]) -> tarfile.TarFile:
    """A docker-archive-shaped tar: one inner tar per layer with the given files."""
    outer_path = tmp_path / "image.tar"
    with tarfile.open(outer_path, "w") as outer:
        for number, files in enumerate(layers):
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as layer:
                for name, data in files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    layer.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo(f"layer{number}.tar")
            info.size = inner.tell()
            inner.seek(0)
            outer.addfile(info, inner)
    return tarfile.open(outer_path)


def test_an_rpm_database_in_a_lower_layer_is_found(tmp_path):
    archive = docker_archive(
        tmp_path, [{"./var/lib/rpm/rpmdb.sqlite": b"db"}, {"usr/bin/app": b"#!"}]
    )
    assert local_build.layers_hold_rpmdb(archive, ["layer0.tar", "layer1.tar"])


def test_an_image_without_an_rpm_database_needs_no_mount(tmp_path):
    archive = docker_archive(tmp_path, [{"bin/busybox": b"\x7fELF", "var/lib/rpmish": b"x"}])
    assert not local_build.layers_hold_rpmdb(archive, ["layer0.tar"])
