"""The sandbox's kojid stand-ins: one worker process per builder host.

Each host's worker logs in as that host, with its own kojid options, builder
plugin config (its ``[builder] arch``), work directory and task logs
(:class:`~koji_containerbuild.sandbox.env.layout.Paths` says where). The
sandbox starts, stops, kills and crashes them per host or all at once, as the
tests and the supervisor need.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from koji_containerbuild.sandbox.env import hosts as sandbox_hosts
from koji_containerbuild.sandbox.env.hosts import HostSpec
from koji_containerbuild.sandbox.env.layout import (
    BUILDER_CONFIG_ENV,
    BUILDER_PLUGIN,
    Paths,
    SandboxError,
    plugin_env,
    read_password,
)
from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.taskrun import PASSWORD_ENV


class HostWorkers:
    """The worker process of every sandbox host, by host name."""

    def __init__(self, paths: Paths, hosts: Sequence[HostSpec], poll_interval: float) -> None:
        self.paths = paths
        self.hosts = list(hosts)
        self.poll_interval = poll_interval
        self.processes: dict[str, subprocess.Popen] = {}
        #: write end of each worker's wake-up pipe (see wake), and their lock
        self._wake_fds: dict[str, int] = {}
        self._wake_lock = threading.Lock()

    def names(self, host: str | None = None) -> list[str]:
        """``host``, or every host when None."""
        if host is None:
            return [spec.name for spec in self.hosts]
        if host not in {spec.name for spec in self.hosts}:
            raise SandboxError(f"The sandbox has no host {host}; its hosts come from --hosts.")
        return [host]

    def write_options(self, hub_url: str, allowed_scms: str) -> None:
        """Each host's kojid options file (the worker reads it at start)."""
        for name in self.names():
            options = {
                "workdir": self.paths.host_workdir(name),
                "topdir": self.paths.topdir,
                "topurl": None,
                "allowed_scms": allowed_scms,
                "allowed_scms_use_config": True,
                "allowed_scms_use_policy": False,
                "use_fast_upload": True,
                "server": hub_url,
                "user": name,
                "plugin": ["builder_containerbuild"],
                "pluginpath": os.path.dirname(BUILDER_PLUGIN),
                "maxjobs": sandbox_hosts.maxjobs_for(self.hosts),
            }
            path = self.paths.host_kojid_options(name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(options, handle, indent=2)

    def start(self, hub_url: str, host: str | None = None) -> subprocess.Popen:
        """Start the worker of ``host`` (default: of every host not running one).

        A worker frees the tasks an earlier one of its host left open. Returns
        the (first) started worker, or the running one.
        """
        started = []
        for name in self.names(host):
            running = self.processes.get(name)
            if running is None or running.poll() is not None:
                started.append(self._start_one(hub_url, name))
        return started[0] if started else self.processes[self.names(host)[0]]

    def _start_one(self, hub_url: str, host: str) -> subprocess.Popen:
        env = plugin_env(self.paths)
        env[BUILDER_CONFIG_ENV] = self.paths.host_builder_config(host)
        env[PASSWORD_ENV] = read_password(self.paths.state, host)
        command = [
            sys.executable, "-m", "koji_containerbuild.sandbox.kojid.worker",
            "--server", hub_url, "--user", host, "--plugin", BUILDER_PLUGIN,
            "--options", self.paths.host_kojid_options(host),
            "--log-dir", self.paths.task_logs(host),
            "--poll-interval", str(self.poll_interval),
        ]  # fmt: skip
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        command += ["--wake-fd", str(wake_read)]
        log_path = self.paths.worker_log(host)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        try:
            with open(log_path, "ab") as log:
                worker = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=env, start_new_session=True, pass_fds=(wake_read,),
                )  # fmt: skip
        except BaseException:
            os.close(wake_write)
            raise
        finally:
            os.close(wake_read)
        self._close_wake(host)
        with self._wake_lock:
            self._wake_fds[host] = wake_write
        self.processes[host] = worker
        return worker

    def wake(self) -> None:
        """The hub made, freed or cancelled a task: every worker polls now, not at its interval."""
        with self._wake_lock:
            for fd in self._wake_fds.values():
                with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                    os.write(fd, b"\0")

    def _close_wake(self, host: str) -> None:
        with self._wake_lock:
            fd = self._wake_fds.pop(host, None)
            if fd is not None:
                os.close(fd)

    def stop(self, host: str | None = None, timeout: float = 30.0) -> None:
        """Stop workers as ``systemctl stop kojid`` does: their tasks are freed."""
        for name in self.names(host):
            worker = self.processes.pop(name, None)
            self._close_wake(name)
            if worker is None or worker.poll() is not None:
                continue
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout)
            except subprocess.TimeoutExpired:
                proctree.terminate_tree(worker.pid, reap=worker.poll)

    def kill(self, host: str | None = None) -> None:
        """Kill workers and their task processes outright, as a crash would."""
        for name in self.names(host):
            worker = self.processes.pop(name, None)
            self._close_wake(name)
            if worker is None:
                continue
            for pid, _start in proctree.process_tree(worker.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            worker.wait()

    def crash(self, host: str | None = None) -> None:
        """kill -9 of workers alone, as of kojid outside systemd: their tasks run on."""
        for name in self.names(host):
            worker = self.processes.pop(name, None)
            self._close_wake(name)
            if worker is None:
                continue
            worker.kill()
            worker.wait()

    def exited(self) -> list[str]:
        """Hosts whose worker process has exited (the supervisor restarts them)."""
        return [name for name, worker in self.processes.items() if worker.poll() is not None]

    def pid(self, host: str) -> int | None:
        worker = self.processes.get(host)
        return worker.pid if worker is not None else None
