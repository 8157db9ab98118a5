"""The fault matrix: each build phase x (Koji cancel, kill -9 of the task process, kojid restart).

Every cell builds through the real koji CLI in the shared sandbox, holds the
build at one exact step, injects the fault and asserts the one expected end
state: the task's state, the Koji build's state, the registry's tags, no
process left, and what a rebuild of the same NVR does. The phases are held
deterministically: the hub calls of the task process are gated inside the
in-process sandbox hub (target lookup before any log, package check right
after the checkout, the first upload of the CG import, CGImport itself), the
build's RUN step prints until it is seen, and the runner waits at the push
while ``<state_dir>/holds/push`` exists.

kill -9: the sandbox worker fails a task whose process died without a result.
The build's runner sees the task FAILED (its lease) and stops and withdraws
its pushes; the reservation stays BUILDING (only the dead task's token could
refund it) until the next build of the NVR reclaims it, which the rebuild
here proves. A kill during CGImport lets the import land: the build is
COMPLETE and its tags stay, so the NVR is taken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import os
import signal
import threading

import koji
import pytest
from koji.context import context

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local.procs import runner_tree
from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.fork import task_pid_file
from tests.e2e.test_e2e import (
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

PHASES = ("before_logs", "checkout", "printing", "push", "after_push", "import")
FAULTS = ("cancel", "kill9", "restart")
PRINTING_RUN = 'i=0; while [ $i -lt 40 ]; do echo "printing-$i"; i=$((i+1)); sleep 0.1; done'


@dataclasses.dataclass(frozen=True)
class EndState:
    task: str
    #: Koji build state after the fault (None: no build was ever reserved).
    build: str | None
    #: Whether the version-release tag is in the registry after the fault.
    tagged: bool
    #: What a rebuild of the same NVR ends as: COMPLETE, or "refused" (NVR built).
    rebuild: str


CANCELLED = EndState("CANCELED", None, False, "COMPLETE")
CANCELLED_BUILD = EndState("CANCELED", "CANCELED", False, "COMPLETE")
KILLED = EndState("FAILED", None, False, "COMPLETE")
KILLED_RESERVED = EndState("FAILED", "BUILDING", False, "COMPLETE")
RESTARTED = EndState("CLOSED", "COMPLETE", True, "refused")

EXPECTED = {
    ("before_logs", "cancel"): CANCELLED,
    ("before_logs", "kill9"): KILLED,
    ("before_logs", "restart"): RESTARTED,
    ("checkout", "cancel"): CANCELLED,
    ("checkout", "kill9"): KILLED,
    ("checkout", "restart"): RESTARTED,
    ("printing", "cancel"): CANCELLED_BUILD,
    ("printing", "kill9"): KILLED_RESERVED,
    ("printing", "restart"): RESTARTED,
    ("push", "cancel"): CANCELLED_BUILD,
    ("push", "kill9"): KILLED_RESERVED,
    ("push", "restart"): RESTARTED,
    ("after_push", "cancel"): CANCELLED_BUILD,
    ("after_push", "kill9"): KILLED_RESERVED,
    ("after_push", "restart"): RESTARTED,
    ("import", "cancel"): CANCELLED_BUILD,
    ("import", "kill9"): EndState("FAILED", "COMPLETE", True, "refused"),
    ("import", "restart"): RESTARTED,
}

#: Cells that fail only because of issue 7 items another branch fixes.
XFAIL: dict[tuple[str, str], str] = {}


class HubGate:
    """Holds the build host's matching calls in the in-process hub until released."""

    def __init__(self, hub, method: str | None = None, upload_dir_prefix: str | None = None):
        self.hub = hub
        self.method = method
        self.upload_dir_prefix = upload_dir_prefix
        self.reached = threading.Event()
        self.released = threading.Event()

    def _hold(self) -> None:
        if self.released.is_set():
            return
        self.reached.set()
        self.released.wait(300)

    def install(self) -> HubGate:
        if self.method:
            original = self.hub.exports[self.method]

            @functools.wraps(original)
            def gated(*args, **kwargs):
                if context.session.getHostId() is not None:
                    self._hold()
                return original(*args, **kwargs)

            self.hub.exports[self.method] = gated
            self._undo = lambda: self.hub.exports.__setitem__(self.method, original)
        else:
            original_raw = self.hub.dispatch_raw

            def gated_raw(func, args, kwargs, session):
                if str(args[2]).startswith(self.upload_dir_prefix):
                    self._hold()
                return original_raw(func, args, kwargs, session)

            self.hub.dispatch_raw = gated_raw
            self._undo = lambda: delattr(self.hub, "dispatch_raw")
        return self

    def release(self) -> None:
        self.released.set()

    def remove(self) -> None:
        self.release()
        self._undo()


class PushHold:
    """Holds local builds at the push through the runner's hold file."""

    def __init__(self, sandbox):
        self.path = os.path.join(sandbox.paths.local, "holds", "push")

    def install(self) -> PushHold:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w", encoding="ascii") as marker:
            marker.write("held by the fault matrix\n")
        return self

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    remove = release


def hold_for(sandbox, phase: str):
    if phase == "before_logs":
        return HubGate(sandbox.hub, method="getBuildTarget").install()
    if phase == "checkout":
        return HubGate(sandbox.hub, method="getPackageConfig").install()
    if phase == "after_push":
        return HubGate(sandbox.hub, upload_dir_prefix="containerbuild-import/").install()
    if phase == "import":
        return HubGate(sandbox.hub, method="CGImport").install()
    if phase == "push":
        return PushHold(sandbox).install()
    return None


def wait_for_phase(sandbox, session, task_id: int, phase: str, hold) -> None:
    if isinstance(hold, HubGate):
        assert hold.reached.wait(180), f"task {task_id} never reached {phase}"
    elif phase == "push":
        wait_for(lambda: "Holding at push" in task_log_text(session, task_id), timeout=180)
    else:
        wait_for(lambda: "printing-5" in task_log_text(session, task_id), timeout=180)


def leftover_processes(sandbox, task_id: int) -> list:
    """The task's process (the worker's child) and every process of its builds' runners."""
    found: set = set()
    if task_process_alive(sandbox, task_id):
        found.add("task process")
    for path in glob.glob(os.path.join(sandbox.paths.local, f"{task_id}-*", bh.RUNNER_FILE)):
        runner = bh.read_json(path)
        found |= runner_tree(runner["pid"], runner["pgid"])
    return sorted(found, key=str)


def kill_task_process(sandbox, task_id: int) -> None:
    noted = bh.read_json(task_pid_file(os.path.join(sandbox.paths.logs, "tasks"), task_id))
    assert proctree.is_alive((noted["pid"], noted["start"])), f"no process runs task {task_id}"
    os.kill(noted["pid"], signal.SIGKILL)


def inject(sandbox, task_id: int, fault: str, hold) -> None:
    if fault == "cancel":
        done = koji_cli(sandbox, "cancel", str(task_id))
        assert done.returncode == 0, done.stderr
        wait_for(lambda: task_state(sandbox.session(), task_id) == "CANCELED", timeout=60)
        # the held call returns only once the cancelled task process is gone
        wait_for(lambda: not task_process_alive(sandbox, task_id), timeout=60)
    elif fault == "kill9":
        kill_task_process(sandbox, task_id)
        if isinstance(hold, HubGate) and hold.method == "CGImport":
            hold.release()  # the import the dead process sent lands, as on a real hub
        wait_for(lambda: task_state(sandbox.session(), task_id) == "FAILED", timeout=60)
    else:
        sandbox.stop_worker()
        if hold is not None:
            hold.release()
        sandbox.start_worker()


def build_state(session, nvr: str) -> str | None:
    info = session.getBuild(nvr)
    return koji.BUILD_STATES[info["state"]] if info else None


def cell_params():
    for phase in PHASES:
        for fault in FAULTS:
            marks = []
            if (phase, fault) in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[(phase, fault)]))
            yield pytest.param(phase, fault, id=f"{phase}-{fault}", marks=marks)


@pytest.mark.parametrize(("phase", "fault"), list(cell_params()))
def test_fault_leaves_the_one_expected_end_state(sandbox, session, tmp_path, phase, fault):
    expected = EXPECTED[(phase, fault)]
    component = f"fm-{phase.replace('_', '-')}-{fault}"
    nvr = f"{component}-1.0-1"
    run = PRINTING_RUN if phase == "printing" else f"echo {component} built"
    url = publish(sandbox, tmp_path, component, dockerfile(component, "1", run))
    hold = hold_for(sandbox, phase)
    try:
        _, task_id = build(sandbox, url, wait=False)
        wait_for_phase(sandbox, session, task_id, phase, hold)
        inject(sandbox, task_id, fault, hold)
        if hold is not None:
            hold.release()
        final = ("CLOSED", "FAILED", "CANCELED")
        wait_for(lambda: task_state(session, task_id) in final, timeout=240)
        wait_for(lambda: not leftover_processes(sandbox, task_id), timeout=60)
    finally:
        if hold is not None:
            hold.remove()

    tags = registry_tags(sandbox, f"e2e/{component}")
    observed = EndState(
        task=task_state(session, task_id),
        build=build_state(session, nvr),
        tagged="1.0-1" in tags,
        rebuild=expected.rebuild,
    )
    assert observed == expected
    if not expected.tagged:
        assert tags == []

    again = publish(sandbox, tmp_path, component, dockerfile(component, "1", "true"))
    done, _ = build(sandbox, again)
    if expected.rebuild == "COMPLETE":
        assert done.returncode == 0, done.stdout + done.stderr
        assert build_state(session, nvr) == "COMPLETE"
    else:
        assert done.returncode == 1
        assert "already exists" in done.stdout + done.stderr
