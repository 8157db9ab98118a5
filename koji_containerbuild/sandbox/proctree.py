"""Find and stop a task's whole process tree the way kojid does on cancel.

kojid signals every process of a cancelled task, deepest first so that a
parent can clean up after its children: SIGINT (time to clean up), then
SIGTERM, then SIGKILL. Processes are identified by pid *and* start time so a
recycled pid is never signalled by mistake.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Callable

from koji_containerbuild import LOGGER_NAME

LOGGER = logging.getLogger(LOGGER_NAME + ".sandbox.proctree")

#: (signal, seconds to wait for the processes to go) in the order kojid uses.
KILL_SEQUENCE = ((signal.SIGINT, 3.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 3.0))

#: A process: (pid, start time in clock ticks since boot).
Proc = tuple[int, int]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """Return (state, parent pid, start time) of a live process, None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    fields = data[data.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    """Start time of a live process (clock ticks since boot), None when gone."""
    stat = _stat(pid)
    return None if stat is None else stat[2]


def is_alive(proc: Proc) -> bool:
    """Whether the process still runs (a zombie counts as gone)."""
    stat = _stat(proc[0])
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == proc[1]


def process_tree(pid: int) -> list[Proc]:
    """Return the process and all its descendants, parents before children."""
    root = _stat(pid)
    if root is None:
        return []
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat is not None:
            children.setdefault(stat[1], []).append((int(entry), stat[2]))
    tree = [(pid, root[2])]
    index = 0
    while index < len(tree):
        tree.extend(children.get(tree[index][0], []))
        index += 1
    return tree


def _refresh(known: list[Proc]) -> list[Proc]:
    """Known processes still alive plus any children they started meanwhile."""
    result: list[Proc] = []
    for proc in known:
        if not is_alive(proc):
            continue
        for member in process_tree(proc[0]):
            if member not in result and is_alive(member):
                result.append(member)
    return result


def terminate_tree(
    pid: int,
    sequence: tuple[tuple[int, float], ...] = KILL_SEQUENCE,
    reap: Callable[[], object] | None = None,
    poll: float = 0.05,
) -> bool:
    """Signal the tree under ``pid`` deepest first, phase by phase.

    ``reap`` is called while waiting so the caller can collect its direct
    child (a zombie child of ours would otherwise look alive to waitpid-less
    code). Returns True when every process of the tree is gone.
    """
    procs = process_tree(pid)
    for sig, timeout in sequence:
        procs = _refresh(procs)
        if not procs:
            return True
        for proc in reversed(procs):
            try:
                os.kill(proc[0], sig)
                LOGGER.info("Sent signal %d to pid %d", sig, proc[0])
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reap is not None:
                reap()
            if not any(is_alive(proc) for proc in procs):
                break
            time.sleep(poll)
    if reap is not None:
        reap()
    left = _refresh(procs)
    if left:
        LOGGER.warning("Processes still alive after SIGKILL: %s", [p[0] for p in left])
    return not left
