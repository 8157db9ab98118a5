"""Find and stop a task's whole process tree the way kojid does on cancel.

kojid's TaskManager.cleanupTask reads the task's process tree once and
signals its processes one at a time, deepest first, so that a parent can
clean up after its children: SIGINT once and 3 s for it, then SIGTERM every
second for 2 s, then SIGKILL every second for 3 s (_killChildren, _doKill).
Processes are identified by pid *and* start time so a recycled pid is never
signalled by mistake.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from typing import Callable

from koji_containerbuild import LOGGER_NAME

LOGGER = logging.getLogger(LOGGER_NAME + ".sandbox.proctree")

#: (signal, timeout, pause) of each phase, in kojid's order: each process gets
#: the signal, then every ``pause`` seconds again while it lives, until
#: ``timeout`` has passed (kojid's cleanupTask calls to _killChildren).
KILL_SEQUENCE = (
    (signal.SIGINT, 2.0, 3.0),
    (signal.SIGTERM, 2.0, 1.0),
    (signal.SIGKILL, 3.0, 1.0),
)

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


def processes_matching(text: str) -> list[int]:
    """Pids of the processes (this one excepted) whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry))
    return found


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


def terminate_tree(
    pid: int,
    sequence: tuple[tuple[int, float, float], ...] = KILL_SEQUENCE,
    reap: Callable[[], object] | None = None,
    poll: float = 0.05,
) -> bool:
    """Signal the tree under ``pid`` process by process, deepest first, phase by phase.

    As kojid, the tree is read once before the first signal: a process it
    starts meanwhile is not signalled (and outlives the task, as it would
    under kojid). ``reap`` is called while waiting so the caller can collect
    its direct child. A wait ends early only when no process of the tree is
    left, since then nobody can tell. Returns True when every one is gone.
    """
    left = process_tree(pid)
    for sig, timeout, pause in sequence:
        for proc in reversed(list(left)):
            if _signal_until_gone(proc, sig, timeout, pause, left, reap, poll):
                left.remove(proc)
        if not left:
            return True
    if reap is not None:
        reap()
    alive = [proc for proc in left if is_alive(proc)]
    if alive:
        LOGGER.warning("Processes still alive after SIGKILL: %s", [p[0] for p in alive])
    return not alive


def _signal_until_gone(
    proc: Proc,
    sig: int,
    timeout: float,
    pause: float,
    left: list[Proc],
    reap: Callable[[], object] | None,
    poll: float,
) -> bool:
    """kojid's _doKill: send ``sig`` every ``pause`` s until gone or ``timeout`` passed."""
    waited = 0.0
    while True:
        if reap is not None:
            reap()
        if not is_alive(proc):
            return True
        if waited >= timeout:
            return False
        try:
            os.kill(proc[0], sig)
            LOGGER.info("Sent signal %d to pid %d", sig, proc[0])
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:
            if reap is not None:
                reap()
            if not any(is_alive(other) for other in left):
                return True
            time.sleep(poll)
        waited += pause


def stop_noted(pid_files: list[str], sequence: tuple[tuple[int, float, float], ...]) -> list[int]:
    """Stop the trees of processes noted in pid files (``{"pid", "start"}`` JSON).

    A process is stopped only if its pid still has the noted start time, so
    a recycled pid is left alone. Returns the pids stopped.
    """
    stopped = []
    for path in pid_files:
        try:
            with open(path, encoding="utf-8") as handle:
                noted = json.load(handle)
            proc = (int(noted["pid"]), int(noted["start"]))
        except (OSError, ValueError, KeyError, TypeError):
            LOGGER.warning("Ignoring unreadable pid file %s", path)
            continue
        if is_alive(proc):
            LOGGER.info("Stopping process %d noted in %s", proc[0], path)
            terminate_tree(proc[0], sequence)
            stopped.append(proc[0])
    return stopped
