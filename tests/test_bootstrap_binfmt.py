"""scripts/bootstrap.sh registers the qemu binfmt_misc entry for builds of a second arch.

The functions run against a stand-in binfmt_misc directory (plain files for
``status``, ``register`` and the entries), never the machine's own.
"""

from __future__ import annotations

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF_LINE = ":qemu-aarch64:M::\\x7fELF:\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF\n"


def run_function(tmp_path, call: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        KCB_BOOTSTRAP_FUNCTIONS_ONLY="1",
        KCB_BINFMT_DIR=str(tmp_path / "binfmt_misc"),
        KCB_BINFMT_CONF_DIR=str(tmp_path / "binfmt.d"),
    )
    script = f"source {REPO}/scripts/bootstrap.sh && {call}"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)


def fake_binfmt(tmp_path, conf: bool = True):
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "register").write_text("")
    if conf:
        (tmp_path / "binfmt.d").mkdir()
        (tmp_path / "binfmt.d" / "qemu-aarch64.conf").write_text(CONF_LINE)
    return binfmt


def test_bootstrap_registers_the_qemu_entry_from_its_binfmt_conf(tmp_path):
    binfmt = fake_binfmt(tmp_path)
    result = run_function(tmp_path, "kcb_binfmt_register qemu-aarch64")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (binfmt / "register").read_text() == CONF_LINE


def test_bootstrap_registers_again_an_entry_without_the_fix_binary_flag(tmp_path):
    binfmt = fake_binfmt(tmp_path)
    (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n")
    result = run_function(tmp_path, "kcb_binfmt_register qemu-aarch64")
    assert result.returncode == 0, result.stdout + result.stderr
    # "-1" written to an entry removes it; then the conf line is registered
    assert (binfmt / "qemu-aarch64").read_text() == "-1\n"
    assert (binfmt / "register").read_text() == CONF_LINE


def test_bootstrap_keeps_an_enabled_entry_with_the_fix_binary_flag(tmp_path):
    binfmt = fake_binfmt(tmp_path)
    entry = "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: PF\n"
    (binfmt / "qemu-aarch64").write_text(entry)
    result = run_function(tmp_path, "kcb_binfmt_register qemu-aarch64")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (binfmt / "register").read_text() == ""
    assert (binfmt / "qemu-aarch64").read_text() == entry


def test_bootstrap_says_qemu_is_missing_when_no_binfmt_conf_exists(tmp_path):
    fake_binfmt(tmp_path, conf=False)
    result = run_function(tmp_path, "kcb_binfmt_register qemu-aarch64")
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"{tmp_path}/binfmt.d/qemu-aarch64.conf is missing (qemu-user-static is not installed)"
    )


def test_bootstrap_says_so_when_binfmt_misc_refuses_the_entry(tmp_path):
    binfmt = fake_binfmt(tmp_path)
    (binfmt / "register").unlink()
    (binfmt / "register").mkdir()  # a write to it fails, as in a container without privileges
    result = run_function(tmp_path, "kcb_binfmt_register qemu-aarch64")
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"{binfmt}/register refuses the entry qemu-aarch64 (a container without privileges?)"
    )


def test_bootstrap_pairs_x86_64_machines_with_aarch64():
    env = dict(os.environ, KCB_BOOTSTRAP_FUNCTIONS_ONLY="1", KCB_MACHINE="x86_64")
    script = f"source {REPO}/scripts/bootstrap.sh && kcb_foreign_arch"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert result.stdout.split() == ["aarch64", "arm64", "qemu-aarch64"]
