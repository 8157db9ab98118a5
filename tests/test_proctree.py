"""proctree: a task's process tree is stopped process by process, as kojid's cleanupTask does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from koji_containerbuild.sandbox.kojid import proctree

#: Ignores SIGINT and SIGTERM, starts the same in a child when asked, says when ready.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if len(sys.argv) > 2:
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2] + ".child"])
open(sys.argv[-1], "w").close()
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def stubborn_tree(tmp_path):
    ready = str(tmp_path / "ready")
    parent = subprocess.Popen([sys.executable, "-c", STUBBORN, STUBBORN, ready])
    deadline = time.monotonic() + 30
    while not (os.path.exists(ready) and os.path.exists(ready + ".child")):
        assert time.monotonic() < deadline, "the stubborn processes did not start"
        time.sleep(0.02)
    tree = proctree.process_tree(parent.pid)
    yield parent, tree
    for pid, _start in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    parent.wait()


def test_each_process_gets_the_signal_every_pause_until_the_timeout_deepest_first(
    stubborn_tree, monkeypatch
):
    parent, tree = stubborn_tree
    (parent_pid, _), (child_pid, _) = tree
    sent = []
    real_kill = os.kill

    def recording_kill(pid, sig):
        sent.append((pid, sig))
        real_kill(pid, sig)

    monkeypatch.setattr(proctree.os, "kill", recording_kill)
    sequence = ((signal.SIGTERM, 0.3, 0.2), (signal.SIGKILL, 3.0, 0.2))
    assert proctree.terminate_tree(parent.pid, sequence, parent.poll)
    assert sent == [
        (child_pid, signal.SIGTERM), (child_pid, signal.SIGTERM),
        (parent_pid, signal.SIGTERM), (parent_pid, signal.SIGTERM),
        (child_pid, signal.SIGKILL), (parent_pid, signal.SIGKILL),
    ]  # fmt: skip
    assert not any(proctree.is_alive(proc) for proc in tree)


def test_kill_sequence_is_the_one_kojid_cleanup_task_uses():
    # cleanupTask: SIGINT (pause 3.0), SIGTERM (timeout 2.0, pause 1.0), SIGKILL (timeout 3.0)
    assert proctree.KILL_SEQUENCE == (
        (signal.SIGINT, 2.0, 3.0),
        (signal.SIGTERM, 2.0, 1.0),
        (signal.SIGKILL, 3.0, 1.0),
    )
