"""Steps of a local build that need no buildah: the build host's RPMs for CG buildroots."""

from __future__ import annotations

import os
import subprocess

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
