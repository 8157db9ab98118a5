"""A task child of the sandbox worker: forked as kojid forks it, and its pid file.

Apart from :mod:`koji_containerbuild.sandbox.kojid.worker` (the poll loop that
decides which task runs and when it is stopped) because this is the process
mechanics only: the fork, its process group, its output, the pid file that lets
a restarted worker stop what an earlier one left running (bench/ and the e2e
tests read those files too), and a Popen-like handle on the child.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import traceback
from collections.abc import Callable

from koji_containerbuild.sandbox.kojid.wakeup import forget_in_child


class ForkedTask:
    """A task child forked from the worker; answers like a subprocess.Popen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._reap(os.WNOHANG)
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            self._reap(0)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _reap(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere: it is gone either way
            self.returncode = -1
            return
        if pid:
            self.returncode = os.waitstatus_to_exitcode(status)


def task_pid_file(log_dir: str, task_id: int) -> str:
    """Where the worker notes a task child's pid and start time."""
    return os.path.join(log_dir, f"task-{task_id}.pid")


def fork_task(
    log_path: str, env: dict[str, str], run: Callable[[], int], close_fds: tuple[int, ...] = ()
) -> ForkedTask:
    """Fork a task child that runs ``run()`` in ``env``, its output in ``log_path``.

    kojid forks its task children (TaskManager.forkTask) instead of starting
    a new interpreter: the plugin is loaded once and a task starts at once.
    The child gets its own process group, as there, so the worker can signal
    the task's whole tree; it never returns into the worker's code.
    """
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(log_fd)
        return ForkedTask(pid)
    code = 1
    try:
        os.setpgrp()
        forget_in_child(close_fds)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.environ.clear()
        os.environ.update(env)
        # the worker's own stop handlers are not the task's
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = run()
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@dataclasses.dataclass
class RunningTask:
    task_id: int
    process: ForkedTask
    workdir: str
    log_path: str
    #: the task's subsession (kojid's forkTask), expired when the task is cleaned up
    session_id: int | None = None
