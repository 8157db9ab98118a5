"""Arches in the local backend (buildah.py): what this machine can run, binfmt_misc emulation.

A build for an arch the machine cannot run is refused with advice; an
emulation problem is one sentence naming what to fix.
"""

from __future__ import annotations

import os

import pytest

from koji_containerbuild.backends.base import BackendError
from koji_containerbuild.backends.local import buildah as bh
from tests.local_backend_fixture import HOST, backend, make_request, settings  # noqa: F401 - fixtures


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
