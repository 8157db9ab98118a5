"""A kojid stand-in that runs the real builder plugin's task handlers.

It logs in as the build host over XML-RPC, stops the task processes a
previous run of it left behind and frees the tasks it left open (they are
re-run from scratch, as after a kojid restart), takes tasks from
``host.getTasks``, opens them and runs each in a forked child
(:mod:`koji_containerbuild.sandbox.kojid.taskrun`, forked by
:mod:`koji_containerbuild.sandbox.kojid.fork`), as kojid does. A task cancelled on the hub has
its process tree signalled as kojid does (deepest first: SIGINT, SIGTERM, SIGKILL).

Like kojid's main loop it polls again at once after taking a task and
sleeps only when it took none. The sleep ends early on an event that makes a
poll worth it (a task child exited, the sandbox hub made, freed or cancelled a
task, a stop signal): the same polls as kojid's, without waiting out the interval.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import optparse
import os
import shutil
import signal
import sys
import threading
from typing import Any

import koji
import koji.xmlrpcplus

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.sandbox.kojid import proctree, taskrun
from koji_containerbuild.sandbox.kojid.fork import RunningTask, fork_task, task_pid_file
from koji_containerbuild.sandbox.kojid.taskrun import PASSWORD_ENV, load_handlers
from koji_containerbuild.sandbox.kojid.wakeup import (
    signal_wakeup_fds,
    sleep_until_woken,
)

LOGGER = logging.getLogger(LOGGER_NAME + ".sandbox.worker")

TASK_OPEN = koji.TASK_STATES["OPEN"]
TASK_CANCELED = koji.TASK_STATES["CANCELED"]
TAKEABLE = (koji.TASK_STATES["FREE"], koji.TASK_STATES["ASSIGNED"])

#: kojid.conf settings handlers may read, with kojid's defaults.
KOJID_DEFAULTS: dict[str, Any] = {
    "workdir": "/var/tmp/koji",
    "topdir": "/mnt/koji",
    "topurl": None,
    "allowed_scms": "",
    "allowed_scms_use_config": True,
    "allowed_scms_use_policy": False,
    "use_fast_upload": True,
    "maxjobs": 10,
    "sleeptime": 15,
    "minspace": 8192,
    "literal_task_arches": "",
    "timeout": None,
    "max_retries": 120,
    "retry_interval": 60,
    "offline_retry": True,
    "offline_retry_interval": 120,
    "pluginpath": "/usr/lib/koji-builder-plugins",
    "plugin": [],
    "server": None,
    "user": None,
    "no_ssl_verify": False,
    "log_level": None,
    "admin_emails": None,
    "mockdir": "/var/lib/mock",
    "mockuser": "kojibuilder",
}


def kojid_options(**overrides: Any) -> optparse.Values:
    """Return kojid's options object: its defaults with ``overrides`` applied."""
    data = dict(KOJID_DEFAULTS)
    data.update(overrides)
    return optparse.Values(data)


class Worker:
    """Poll the hub for tasks and run each in its own process."""

    def __init__(
        self,
        server: str,
        user: str,
        password: str,
        plugin_file: str,
        options: optparse.Values,
        log_dir: str,
        poll_interval: float = 0.5,
        kill_sequence: tuple[tuple[int, float, float], ...] = proctree.KILL_SEQUENCE,
        env: dict[str, str] | None = None,
        wake_fds: tuple[int, ...] = (),
    ) -> None:
        self.server = server
        self.user = user
        self.password = password
        self.plugin_file = os.path.abspath(plugin_file)
        self.options = options
        self.log_dir = log_dir
        self.poll_interval = poll_interval
        self.kill_sequence = kill_sequence
        self.env = dict(os.environ if env is None else env)
        self.running: dict[int, RunningTask] = {}
        self.handlers = load_handlers(self.plugin_file)
        self.session: koji.ClientSession | None = None
        self.host_id: int | None = None
        #: readable when a poll is due before the interval ends (see wakeup.py)
        self.wake_fds = tuple(wake_fds)
        self._stop = threading.Event()

    # -- life cycle -----------------------------------------------------------

    def connect(self) -> None:
        """Log in as the host, stop what a previous run left running, free its tasks."""
        self.session = koji.ClientSession(
            self.server, {"user": self.user, "password": self.password, "anon_retry": True}
        )
        self.session.login()
        self.host_id = self.session.host.getID()
        os.makedirs(self.log_dir, exist_ok=True)
        self.stop_orphans()
        self.free_stale_tasks()

    def stop_orphans(self) -> list[int]:
        """Stop task processes that an earlier run of the worker left running.

        kojid runs under systemd (kojid.service keeps the default
        KillMode=control-group): when kojid dies, even by kill -9, systemd
        stops what is left of the service before it starts kojid again, so a
        re-run never races the old task process. The worker has no service
        manager: it does that itself, with kojid's sequence, from the pid
        files (pid and start time, so a recycled pid is left alone) before the
        tasks are freed and handed out again.
        """
        pid_files = sorted(glob.glob(os.path.join(self.log_dir, "task-*.pid")))
        return proctree.stop_noted(pid_files, self.kill_sequence)

    def free_stale_tasks(self) -> list[int]:
        """Free tasks open on this host that no process of ours runs."""
        stale = [
            task["id"]
            for task in self.session.host.getHostTasks()
            if task["id"] not in self.running
        ]
        if stale:
            LOGGER.info("Freeing tasks left open by an earlier run: %s", stale)
            self.session.host.freeTasks(stale)
        return stale

    def serve_forever(self) -> None:
        """Poll until :meth:`request_stop`, then stop cleanly."""
        try:
            while not self._stop.is_set():
                taken = False
                try:
                    taken = self.poll_once()
                except koji.AuthExpired:
                    LOGGER.error("Host session expired; stopping")
                    break
                except Exception:
                    LOGGER.exception("Worker poll failed")
                if not taken:  # kojid sleeps only when it took no task
                    sleep_until_woken(self.wake_fds, self.poll_interval, self._stop)
        finally:
            self.shutdown()

    def request_stop(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        """Stop running tasks and hand them back to the hub, as kojid does."""
        running = list(self.running)
        for task_id in running:
            self._kill(self.running.pop(task_id))
        if self.session is None:
            return
        if running:
            try:
                self.session.host.freeTasks(running)
            except Exception:
                LOGGER.exception("Could not free tasks %s", running)
        try:
            self.session.logout()
        except Exception:
            LOGGER.debug("Logout failed", exc_info=True)
        self.session = None

    # -- one poll -------------------------------------------------------------

    def poll_once(self) -> bool:
        """One turn of kojid's loop; True when a task was taken."""
        host_tasks = self.update_running()
        self.wake_waiting(host_tasks)
        return self.take_tasks()

    def wake_waiting(self, host_tasks: list[dict]) -> list[int]:
        """SIGUSR2 the tasks whose awaited subtasks finished, as kojid's updateTasks does.

        BaseTaskHandler.wait sleeps in signal.pause() until then. ``host_tasks``
        is this poll's ``host.getHostTasks`` answer.
        """
        woken = []
        for task in host_tasks:
            running = self.running.get(task["id"])
            if task.get("alert") and running is not None and running.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(running.process.pid, signal.SIGUSR2)
                woken.append(task["id"])
        return woken

    def update_running(self) -> list[dict]:
        """Reap finished task processes; kill the ones whose task was cancelled.

        As kojid's updateTasks: one ``host.getHostTasks`` for the tasks still
        open here, and ``getTaskInfo`` only for a running task missing from it.
        Returns that ``host.getHostTasks`` answer ([] when nothing runs here).
        """
        if not self.running:
            return []
        host_tasks = self.session.host.getHostTasks()
        open_here = {task["id"] for task in host_tasks}
        for task_id, task in list(self.running.items()):
            code = task.process.poll()
            if code is not None:
                del self.running[task_id]
                self._finished(task, code)
                continue
            if task_id in open_here:
                continue
            info = self.session.getTaskInfo(task_id)
            # Like kojid: cancelled or taken away -> kill; closed or failed -> the
            # process reported its result and is about to exit, let it linger.
            if (
                info is None
                or info["state"] == TASK_CANCELED
                or info.get("host_id") != self.host_id
            ):
                LOGGER.info("Task %s is no longer ours to run; stopping its processes", task_id)
                del self.running[task_id]
                self._kill(task)
        return host_tasks

    def take_tasks(self) -> bool:
        """Open and start the tasks this host may take; True when it took one."""
        maxjobs = getattr(self.options, "maxjobs", 10)
        taken = False
        for task in self.session.host.getTasks():
            if len(self.running) >= maxjobs:
                break
            if task["id"] in self.running or task["state"] not in TAKEABLE:
                continue
            if task.get("host_id") not in (None, self.host_id):
                continue
            if task["method"] not in self.handlers:
                LOGGER.debug("No handler for task %s (%s)", task["id"], task["method"])
                continue
            data = self.session.host.openTask(task["id"])
            if not data:
                LOGGER.info("Could not open task %s", task["id"])
                continue
            self.running[task["id"]] = self._spawn(task["id"])
            taken = True
        return taken

    # -- task processes -------------------------------------------------------

    def _spawn(self, task_id: int) -> RunningTask:
        workdir = os.path.join(self.options.workdir, koji.pathinfo.taskrelpath(task_id))
        shutil.rmtree(workdir, ignore_errors=True)
        log_path = os.path.join(self.log_dir, f"task-{task_id}.log")
        env = dict(self.env)
        sinfo = self.session.callMethod("subsession")
        process = fork_task(
            log_path,
            env,
            lambda: taskrun.run_child(
                self.server,
                self.user,
                self.password,
                self.plugin_file,
                task_id,
                self.options,
                self.handlers,
                sinfo,
            ),
            close_fds=self.wake_fds,
        )
        with open(task_pid_file(self.log_dir, task_id), "w", encoding="utf-8") as handle:
            json.dump({"pid": process.pid, "start": proctree.start_time(process.pid)}, handle)
        LOGGER.info("Task %s started in pid %d (log %s)", task_id, process.pid, log_path)
        return RunningTask(task_id, process, workdir, log_path, sinfo["session-id"])

    def _expire_session(self, task: RunningTask) -> None:
        """kojid's cleanupTask: the task's subsession ends with it (logoutChild)."""
        if task.session_id is None or self.session is None:
            return
        try:
            self.session.logoutChild(task.session_id)
        except Exception:
            LOGGER.warning("Could not expire the session of task %s", task.task_id, exc_info=True)

    def _finished(self, task: RunningTask, code: int) -> None:
        LOGGER.info("Task %s process exited with status %s", task.task_id, code)
        # Leftover children of a finished task do not outlive it (kojid's cleanup).
        proctree.terminate_tree(task.process.pid, self.kill_sequence, task.process.poll)
        self._expire_session(task)
        shutil.rmtree(task.workdir, ignore_errors=True)
        info = self.session.getTaskInfo(task.task_id)
        if info is not None and info["state"] == TASK_OPEN:
            # The process died without reporting: fail rather than loop forever.
            message = (
                f"The task process exited with status {code} without reporting a result;"
                f" see {task.log_path} on the sandbox worker."
            )
            fault = koji.xmlrpcplus.Fault(koji.GenericError.faultCode, message)
            self.session.host.failTask(task.task_id, koji.xmlrpcplus.dumps(fault))

    def _kill(self, task: RunningTask) -> None:
        gone = proctree.terminate_tree(task.process.pid, self.kill_sequence, task.process.poll)
        if task.process.poll() is None:
            task.process.kill()
            task.process.wait()
        if not gone:
            LOGGER.warning("Some processes of task %s survived SIGKILL", task.task_id)
        self._expire_session(task)
        shutil.rmtree(task.workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sandbox kojid stand-in.")
    parser.add_argument("--server", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--plugin", required=True, help="builder plugin file")
    parser.add_argument("--options", required=True, help="JSON file with kojid options")
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument(
        "--wake-fd", type=int, default=None, help="the sandbox hub writes here on a task change"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s [%(process)d] %(name)s %(levelname)s: %(message)s",
    )
    with open(args.options, encoding="utf-8") as handle:
        options = kojid_options(**json.load(handle))
    worker = Worker(
        args.server,
        args.user,
        os.environ.get(PASSWORD_ENV, ""),
        args.plugin,
        options,
        args.log_dir,
        poll_interval=args.poll_interval,
        wake_fds=signal_wakeup_fds(args.wake_fd),
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
    signal.signal(signal.SIGINT, lambda *_: worker.request_stop())
    worker.connect()
    LOGGER.info("Worker ready as host %s (id %s)", args.user, worker.host_id)
    worker.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
