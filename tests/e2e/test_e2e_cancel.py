"""End to end: `koji cancel` while the build prints, and kill -9 of the worker mid-build.

Real koji CLI, real worker (kojid's kill sequence), real buildah builds. The
sandbox hub refuses uploads into a cancelled task as kojihub does, so a task
flow that flushed its logs before stopping the build would be caught here.
"""

from __future__ import annotations

import json
import os
import time

import koji
import pytest

from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.fork import task_pid_file
from tests.e2e.test_e2e import (
    UNIQUE,
    build,
    dockerfile,
    koji_cli,
    publish,
    registry_tags,
    task_log_text,
    task_process_alive,
    task_state,
    wait_for,
)

pytestmark = pytest.mark.e2e


def task_process(sandbox, task_id: int) -> tuple[int, int]:
    """(pid, start time) of the worker's latest child for the task, from its pid file."""
    with open(task_pid_file(os.path.join(sandbox.paths.logs, "tasks"), task_id)) as handle:
        noted = json.load(handle)
    return noted["pid"], noted["start"]


def build_state(session, nvr: str) -> str | None:
    info = session.getBuild(nvr)
    return info and koji.BUILD_STATES[info["state"]]


def import_attempts(sandbox, task_id: int) -> list[str]:
    """Upload directories of CG imports the task made (one per import)."""
    root = os.path.join(sandbox.paths.topdir, "work", "containerbuild-import")
    names = os.listdir(root) if os.path.isdir(root) else []
    return [name for name in names if name.startswith(f"{task_id}-")]


def test_cancel_while_the_build_prints_stops_it_refunds_and_the_nvr_rebuilds(
    sandbox, session, tmp_path
):
    marker = f"e2e-chatty-{UNIQUE}"
    run = f'while :; do echo "{marker} printing"; sleep 0.02; done'
    url = publish(sandbox, tmp_path, "e2e-chatty", dockerfile("e2e-chatty", "1", run))
    _, task_id = build(sandbox, url, wait=False)
    wait_for(lambda: proctree.processes_matching(marker), timeout=120)
    wait_for(lambda: marker in task_log_text(session, task_id), timeout=60)

    cancelled_at = time.monotonic()
    done = koji_cli(sandbox, "cancel", str(task_id))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: not proctree.processes_matching(marker), timeout=30, interval=0.05)
    print(f"cancel to RUN stopped: {time.monotonic() - cancelled_at:.2f} s")
    wait_for(lambda: not task_process_alive(sandbox, task_id), timeout=30)

    assert task_state(session, task_id) == "CANCELED"
    assert build_state(session, "e2e-chatty-1.0-1") == "CANCELED"
    assert registry_tags(sandbox, "e2e/e2e-chatty") == []
    assert sandbox.build_processes(task_id) == []

    fixed = publish(sandbox, tmp_path, "e2e-chatty", dockerfile("e2e-chatty", "1", "true"))
    done, _ = build(sandbox, fixed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert build_state(session, "e2e-chatty-1.0-1") == "COMPLETE"


def test_kill_9_of_the_worker_mid_build_completes_the_task_once(sandbox, session, tmp_path):
    marker = f"sleep 8.{UNIQUE}"
    url = publish(sandbox, tmp_path, "e2e-crash", dockerfile("e2e-crash", "1", marker))
    _, task_id = build(sandbox, url, wait=False)
    wait_for(lambda: proctree.processes_matching(marker), timeout=120)
    old = task_process(sandbox, task_id)

    sandbox.crash_worker()
    assert proctree.is_alive(old)  # it lives on, as under kojid without systemd
    sandbox.start_worker()
    wait_for(lambda: task_state(session, task_id) in ("CLOSED", "FAILED", "CANCELED"))

    assert task_state(session, task_id) == "CLOSED", session.getTaskResult(task_id, False)
    package = session.getPackage("e2e-crash")
    builds = session.listBuilds(packageID=package["id"])
    assert [(b["nvr"], koji.BUILD_STATES[b["state"]]) for b in builds] == [
        ("e2e-crash-1.0-1", "COMPLETE")
    ]
    assert len(import_attempts(sandbox, task_id)) == 1
    assert task_process(sandbox, task_id) != old
    wait_for(lambda: not task_process_alive(sandbox, task_id), timeout=30)
    assert not proctree.is_alive(old)
    # the runner ends once the re-run released the build (or its lease saw the task end)
    wait_for(lambda: sandbox.build_processes(task_id) == [], timeout=30)
