"""The detached runner's side of the lease (:mod:`koji_containerbuild.lease`).

A thread of the runner reads its task's state on the hub every few seconds.
When the task ended (killed task process failed by kojid, cancel while no
task process was there to pass it on) the thread marks the build cancelled
and stops the runner's child processes (buildah, skopeo), so the build ends
and withdraws its pushes. After a successful build the runner lingers until
the task ended: if the task did not import the build, its pushes are
withdrawn too. A hub that cannot be reached never stops a build.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import threading
import time
from typing import Any, Callable

import koji

from koji_containerbuild import LOGGER_NAME, lease
from koji_containerbuild.backends.local import buildah as bh

log = logging.getLogger(f"{LOGGER_NAME}.backends.local_lease")

#: Checks (one per interval) for an import still landing after the task ended.
IMPORT_GRACE_CHECKS = 3

#: Written by the lease thread when the task ended: {"state": ..., "time": ...}.
ENDED_FILE = "task-ended.json"


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            parents[int(entry)] = int(fields[1])
    found: set[int] = set()
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found | {root}}
        grew = not children <= found
        found |= children
    found.discard(root)
    return found


def stop_children(grace: float = 5.0) -> None:
    """SIGTERM this process's descendants, SIGKILL those left after ``grace`` seconds."""
    for sig, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        deadline = time.monotonic() + patience
        while True:
            alive = _descendants(os.getpid())
            if not alive:
                return
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)


class LeaseWatch:
    """Follows the task of one build; see the module docstring."""

    def __init__(
        self,
        build_dir: str,
        spec: dict[str, Any] | None,
        note: Callable[[str], None],
        interval: float = lease.LEASE_INTERVAL,
    ) -> None:
        self.build_dir = build_dir
        self.spec = spec or {}
        self.note = note
        self.interval = interval
        self.ended_state: str | None = None
        #: The task whose end ended the lease: the build's own, or its parent's.
        self.ended_task: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = (
            lease.anonymous_session(self.spec["hub_url"]) if self.spec.get("hub_url") else None
        )

    @property
    def task_id(self) -> int:
        return int(self.spec["task_id"])

    def _over(self) -> bool:
        if self._session is None:
            return False
        # an arch subtask's build is of no use once its parent ended (killed, failed)
        followed = [self.task_id, self.spec.get("parent_task_id")]
        for task_id in (int(t) for t in followed if t):
            state = lease.task_state(self._session, task_id)
            if state is None or koji.TASK_STATES[state] in lease.TASK_RUNNING_STATES:
                continue
            self.ended_state, self.ended_task = state, task_id
            return True
        return False

    def start(self) -> None:
        if self._session is None:
            return
        self._thread = threading.Thread(target=self._watch, name="lease", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if self._over():
                self._end_build()
                return

    def _end_build(self) -> None:
        self.note(f"Task {self.ended_task} is {self.ended_state}: stopping its build.")
        bh.write_json(
            os.path.join(self.build_dir, ENDED_FILE),
            {"state": self.ended_state, "time": datetime.datetime.now().isoformat()},
        )
        with open(os.path.join(self.build_dir, bh.CANCEL_FILE), "w", encoding="ascii") as marker:
            marker.write(f"task {self.ended_state}\n")
        stop_children()

    def stop(self) -> None:
        """End the watching thread (the build is over)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def linger(self) -> bool:
        """Wait until the task ended; True when the pushes must be withdrawn.

        Called after the build succeeded: the pushes stay when the task
        closed or when Koji holds the build the task imported; they go at
        once when the task process cancelled the build (the cancel marker),
        and stay at once when it released it (cleanup() after the import).
        """
        cancel_marker = os.path.join(self.build_dir, bh.CANCEL_FILE)
        if self._session is None:
            return os.path.exists(cancel_marker)
        next_read = 0.0
        while True:
            if os.path.exists(cancel_marker):
                return True  # the task process cancelled it: it will not import it
            if os.path.exists(os.path.join(self.build_dir, bh.RELEASED_FILE)):
                return False  # the task process is done with it and kept it
            if time.monotonic() >= next_read:
                if self._over():
                    break
                next_read = time.monotonic() + self.interval
            time.sleep(0.1)
        if self.ended_state == "CLOSED":
            return False
        for _check in range(IMPORT_GRACE_CHECKS):
            try:
                if lease.imported_by_task(self._session, self.spec.get("nvr"), self.task_id):
                    return False
                if not self._reserved():
                    return True
            except Exception as error:  # unsure: a record may point at these pushes, keep them
                log.warning("Could not check the import of task %s: %s", self.task_id, error)
                return False
            time.sleep(self.interval)  # an import the dead task sent may still be landing
        return True

    def _reserved(self) -> bool:
        nvr = self.spec.get("nvr")
        build = self._session.getBuild(nvr) if nvr else None
        return bool(build and build["state"] == koji.BUILD_STATES["BUILDING"])
