"""scripts/scratch.sh: a killed test run's tmpfs scratch directory goes at the next run."""

from __future__ import annotations

import subprocess

import pytest

SCRATCH_SH = "scripts/scratch.sh"


def bash(repo_root, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"source {SCRATCH_SH}; {script}", "bash", *args],
        cwd=repo_root, capture_output=True, text=True, check=True,
    )  # fmt: skip


@pytest.fixture
def exited_owner(repo_root, tmp_path):
    """A scratch directory claimed by a shell that has exited since."""
    directory = tmp_path / "kcb-test-gone"
    directory.mkdir()
    bash(repo_root, 'claim_scratch "$1"', str(directory))
    return directory


def test_directory_of_an_exited_run_is_removed(repo_root, tmp_path, exited_owner):
    bash(repo_root, 'remove_stale_scratch "$1"', str(tmp_path))
    assert not exited_owner.exists()


def test_directory_of_a_running_run_is_kept(repo_root, tmp_path):
    directory = tmp_path / "kcb-test-live"
    directory.mkdir()
    bash(repo_root, 'claim_scratch "$1"; remove_stale_scratch "$2"', str(directory), str(tmp_path))
    assert (directory / "owner").exists()


def test_owner_pid_taken_by_a_later_process_counts_as_gone(repo_root, tmp_path):
    directory = tmp_path / "kcb-test-reused"
    directory.mkdir()
    # this shell's pid, with another start time: the pid was reused
    bash(repo_root, 'echo "$$ 1" > "$1/owner"; remove_stale_scratch "$2"', str(directory),
         str(tmp_path))  # fmt: skip
    assert not directory.exists()


def test_directory_without_an_owner_is_left_alone(repo_root, tmp_path):
    directory = tmp_path / "kcb-test-unknown"
    directory.mkdir()
    bash(repo_root, 'remove_stale_scratch "$1"', str(tmp_path))
    assert directory.exists()
