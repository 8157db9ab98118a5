"""The processes of a local build's runner: is it alive, its tree, stopping it.

Apart from :mod:`koji_containerbuild.backends.local.backend` (the backend
interface: start, logs, wait, cancel) because this is /proc bookkeeping
only: a runner is told from a process that reused its pid by its start time,
and its tree is its process group and session plus every descendant, since
buildah's children may leave both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time

from koji_containerbuild import LOGGER_NAME

log = logging.getLogger(f"{LOGGER_NAME}.backends.local")


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is index 0)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def same_process(pid: int, start_ticks: str) -> bool:
    """Alive, not a zombie, and not another process that reused the pid."""
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X") and fields[19] == start_ticks


def runner_tree(pid: int, pgid: int) -> set[int]:
    """The runner, its process group and session, and all their descendants."""
    parents: dict[int, int] = {}
    members: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat(int(entry))
        if not fields or fields[0] in ("Z", "X"):
            continue
        parents[int(entry)] = int(fields[1])
        if int(fields[2]) == pgid or int(fields[3]) == pgid:
            members.add(int(entry))
    if pid in parents:
        members.add(pid)
    grew = True
    while grew:
        children = {child for child, parent in parents.items() if parent in members}
        grew = not children <= members
        members |= children
    return members


def stop_runner(pid: int, pgid: int, patience: float = 30.0) -> bool:
    """SIGTERM the runner's build processes once and let the runner end on its own.

    The runner sees the cancel marker, withdraws its pushes and records the
    outcome; True when it did so within ``patience`` seconds. Otherwise its
    whole tree is killed and False returned (the caller withdraws).
    """
    for member in runner_tree(pid, pgid) - {pid}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGTERM)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if pid not in runner_tree(pid, pgid):
            return True
        time.sleep(0.1)
    kill_process_tree(pid, pgid)
    return False


def kill_process_tree(pid: int, pgid: int, grace: float = 5.0) -> None:
    """SIGTERM the build's processes, SIGKILL what is left after ``grace`` seconds."""
    for sig, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        deadline = time.monotonic() + patience
        while True:
            alive = runner_tree(pid, pgid)
            if not alive:
                return
            for member in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, sig)
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    log.warning("processes of local build runner %s survived SIGKILL", pid)
