"""Start and stop the whole sandbox: hub, worker, registry and git daemon.

Everything lives in one state directory (default ``<repo>/.sandbox`` or
``$KOJI_CONTAINERBUILD_SANDBOX``): the hub's SQLite state and files, the
registry's storage, buildah's storage, git repositories, the plugins' config
files, logs and pid files. :class:`Sandbox` starts the pieces in order and
stops everything it started, in reverse order, on :meth:`Sandbox.stop`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.sandbox.env.gitserve import GitServer
from koji_containerbuild.sandbox.env.layout import (
    ADMIN,
    BASE_IMAGE,
    BUILD_TAG,
    BUILDER_CONFIG_ENV,
    BUILDER_PLUGIN,
    BUSYBOX,
    BUSYBOX_APPLETS,
    CG_NAME,
    CHANNEL,
    CLI_PLUGIN_DIR,
    DEMO_PACKAGE,
    DEST_TAG,
    EXAMPLES_DIR,
    HOST,
    HUB_CONFIG_ENV,
    HUB_PLUGIN,
    REPO_ROOT,
    STATE_ENV,
    TARGET,
    USER,
    Paths,
    SandboxError,
    alive,
    build_base_image,
    buildah_base_args,
    default_state_dir,
    ensure_passwords,
    exact_allowed_scms,
    host_arch,
    koji_command,
    koji_command_text,
    load_ports,
    password_path,
    plugin_env,
    port_free,
    read_info,
    read_password,
    set_passwords,
    setup_demo,
    write_builder_config,
    write_hub_config,
    write_koji_config,
)
from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.taskrun import PASSWORD_ENV

LOGGER = logging.getLogger(LOGGER_NAME + ".sandbox.runtime")


__all__ = [
    "ADMIN",
    "BASE_IMAGE",
    "BUILDER_CONFIG_ENV",
    "BUILDER_PLUGIN",
    "BUILD_TAG",
    "BUSYBOX",
    "BUSYBOX_APPLETS",
    "CG_NAME",
    "CHANNEL",
    "CLI_PLUGIN_DIR",
    "DEMO_PACKAGE",
    "DEST_TAG",
    "EXAMPLES_DIR",
    "HOST",
    "HUB_CONFIG_ENV",
    "HUB_PLUGIN",
    "REPO_ROOT",
    "STATE_ENV",
    "TARGET",
    "USER",
    "Paths",
    "Sandbox",
    "SandboxError",
    "alive",
    "build_base_image",
    "buildah_base_args",
    "default_state_dir",
    "host_arch",
    "koji_command",
    "koji_command_text",
    "load_ports",
    "password_path",
    "plugin_env",
    "port_free",
    "read_info",
    "read_password",
    "setup_demo",
    "write_builder_config",
    "write_hub_config",
    "write_koji_config",
]


class Sandbox:
    """The hub (in this process), the worker, the registry and the git daemon."""

    def __init__(self, state_dir: str | None = None, allowed_scms: str | None = None,
                 worker_poll: float = 0.3) -> None:  # fmt: skip
        self.paths = Paths(state_dir or default_state_dir())
        self.allowed_scms = allowed_scms
        self.worker_poll = worker_poll
        self.registry: Any = None
        self.registry_address = ""
        self.hub: Any = None
        self.server: Any = None
        self.git: GitServer | None = None
        self.worker: subprocess.Popen | None = None
        #: write end of the worker's wake-up pipe (see _wake_worker), and its lock
        self._worker_wake: int | None = None
        self._wake_lock = threading.Lock()
        self._started: list[str] = []
        self._sessions: dict[str, koji.ClientSession] = {}

    @property
    def hub_url(self) -> str:
        return self.server.url

    def start(self) -> Sandbox:
        """Start every piece; on failure stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from koji_containerbuild.sandbox.env.registry import Registry

        self.paths.make()
        ports = load_ports(self.paths)
        self.registry = Registry(self.paths.registry, port=ports.get("registry", 0))
        self.registry_address = self.registry.start()
        self._started.append("registry")
        write_builder_config(self.paths, self.registry_address)
        write_hub_config(self.paths)
        os.environ[BUILDER_CONFIG_ENV] = self.paths.builder_config
        os.environ[HUB_CONFIG_ENV] = self.paths.hub_config
        build_base_image(self.paths, os.path.join(self.paths.logs, "base-image.log"))
        self._start_hub(ports.get("hub", 0))
        self.git = GitServer(
            self.paths.git,
            port=ports.get("git", 0),
            log_path=os.path.join(self.paths.logs, "git.log"),
        )
        self.git.start()
        self._started.append("git")
        self._write_kojid_options()
        self.start_worker()
        self._write_info()
        with open(self.paths.ports, "w", encoding="utf-8") as handle:
            json.dump({"registry": self.registry.port, "hub": self.server.port,
                       "git": self.git.port}, handle)  # fmt: skip

    def _start_hub(self, port: int = 0) -> None:
        from koji_containerbuild.sandbox.kojihub.hub import SandboxHub
        from koji_containerbuild.sandbox.kojihub.server import serve

        self.hub = SandboxHub(self.paths.topdir, hub_plugins=[HUB_PLUGIN])
        passwords = ensure_passwords(self.paths)
        if not os.path.exists(self.paths.setup_done):
            setup_demo(self.hub, host_arch(), passwords)
            with open(self.paths.setup_done, "w", encoding="utf-8") as handle:
                handle.write("done\n")
        else:
            set_passwords(self.hub, passwords)
        self.hub.task_listeners.append(self._wake_worker)
        self.server = serve(self.hub, port=port)
        self._started.append("hub")
        write_koji_config(self.paths, self.server.url)

    def _write_kojid_options(self) -> None:
        options = {
            "workdir": self.paths.workdir,
            "topdir": self.paths.topdir,
            "topurl": None,
            # None: exactly this sandbox's git daemon.
            "allowed_scms": self.allowed_scms or exact_allowed_scms(self.git.host, self.git.port),
            "allowed_scms_use_config": True,
            "allowed_scms_use_policy": False,
            "use_fast_upload": True,
            "server": self.hub_url,
            "user": HOST,
            "plugin": ["builder_containerbuild"],
            "pluginpath": os.path.dirname(BUILDER_PLUGIN),
            "maxjobs": 4,
        }
        with open(self.paths.kojid_options, "w", encoding="utf-8") as handle:
            json.dump(options, handle, indent=2)

    def start_worker(self) -> subprocess.Popen:
        """Start the kojid stand-in (it frees tasks left open by an earlier one)."""
        env = plugin_env(self.paths)
        env[PASSWORD_ENV] = read_password(self.paths.state, HOST)
        command = [
            sys.executable, "-m", "koji_containerbuild.sandbox.kojid.worker",
            "--server", self.hub_url, "--user", HOST, "--plugin", BUILDER_PLUGIN,
            "--options", self.paths.kojid_options,
            "--log-dir", os.path.join(self.paths.logs, "tasks"),
            "--poll-interval", str(self.worker_poll),
        ]  # fmt: skip
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        command += ["--wake-fd", str(wake_read)]
        try:
            with open(os.path.join(self.paths.logs, "worker.log"), "ab") as log:
                self.worker = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=env, start_new_session=True, pass_fds=(wake_read,),
                )  # fmt: skip
        except BaseException:
            os.close(wake_write)
            raise
        finally:
            os.close(wake_read)
        self._close_worker_wake()
        self._worker_wake = wake_write
        return self.worker

    def _wake_worker(self) -> None:
        """The hub made, freed or cancelled a task: the worker polls now, not at its interval."""
        with self._wake_lock:
            if self._worker_wake is None:
                return
            with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                os.write(self._worker_wake, b"\0")

    def _close_worker_wake(self) -> None:
        with self._wake_lock:
            if self._worker_wake is not None:
                os.close(self._worker_wake)
                self._worker_wake = None

    def stop_worker(self, timeout: float = 30.0) -> None:
        """Stop the worker as ``systemctl stop kojid`` does: its tasks are freed."""
        if self.worker is None:
            return
        if self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout)
            except subprocess.TimeoutExpired:
                proctree.terminate_tree(self.worker.pid, reap=self.worker.poll)
        self.worker = None
        self._close_worker_wake()

    def kill_worker(self) -> None:
        """Kill the worker and its task processes outright, as a crash would."""
        if self.worker is None:
            return
        tree = proctree.process_tree(self.worker.pid)
        for pid, _start in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.worker.wait()
        self.worker = None
        self._close_worker_wake()

    def crash_worker(self) -> None:
        """kill -9 of the worker alone, as of kojid outside systemd: its tasks run on."""
        if self.worker is None:
            return
        self.worker.kill()
        self.worker.wait()
        self.worker = None
        self._close_worker_wake()

    def _write_info(self) -> None:
        info = {
            "pid": os.getpid(),
            "hub_url": self.hub_url,
            "registry": self.registry_address,
            "git_url": self.git.url,
            "worker_pid": self.worker.pid if self.worker else None,
            "state_dir": self.paths.state,
            "started": time.time(),
        }
        with open(self.paths.info, "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2)

    def stop(self) -> None:
        """Stop everything this object started, newest first."""
        if self.worker is not None:
            self.stop_worker()
        for session in self._sessions.values():
            with contextlib.suppress(Exception):
                session.logout()
        self._sessions.clear()
        if "git" in self._started and self.git is not None:
            self.git.stop()
        if "hub" in self._started and self.server is not None:
            self.server.stop()
        if "registry" in self._started and self.registry is not None:
            self.registry.stop()
        self._started.clear()
        with contextlib.suppress(OSError):
            os.unlink(self.paths.info)

    # -- helpers for the demo and the tests ------------------------------------

    def build_processes(self, task_id: int) -> list[int]:
        """Live local runners of the task's builds and the buildah commands they run."""
        found = proctree.processes_matching(f"{self.paths.local}/{task_id}-")
        for runner_file in glob.glob(f"{self.paths.local}/{task_id}-*/{bh.RUNNER_FILE}"):
            with open(runner_file, encoding="utf-8") as handle:
                runner = json.load(handle)
            if proctree.is_alive((runner["pid"], int(runner["start_ticks"]))):
                found.append(runner["pid"])
        return found

    def koji(self, user: str = USER) -> list[str]:
        return koji_command(self.paths.state, user)

    def session(self, user: str = USER) -> koji.ClientSession:
        """The logged-in ClientSession of ``user`` (password from the sandbox's config).

        One per user, kept until :meth:`stop`: a dropped ClientSession logs out
        from its ``__del__``, and when the garbage collector runs that in the
        hub's own accept thread (the hub serves in this process) the logout
        waits for an answer that thread can never accept.
        """
        session = self._sessions.get(user)
        if session is None:
            password = read_password(self.paths.state, user)
            session = koji.ClientSession(self.hub_url, {"user": user, "password": password})
            session.login()
            self._sessions[user] = session
        return session

    def publish(self, name: str, source_dir: str, message: str = "Update") -> str:
        """Commit ``source_dir`` into git repo ``name``; return its SCM URL."""
        commit = self.git.publish(name, source_dir, message)
        return self.git.scm_url(name, commit)
