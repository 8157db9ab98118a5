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
import subprocess
import time
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.hostarch import host_arch
from koji_containerbuild.sandbox.env import hosts as sandbox_hosts
from koji_containerbuild.sandbox.env.baseimage import build_base_image, busybox_problem
from koji_containerbuild.sandbox.env.gitserve import GitServer
from koji_containerbuild.sandbox.env.hosts import HostSpec
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
    RELEASE_TAG,
    REPO_ROOT,
    STATE_ENV,
    TARGET,
    USER,
    Paths,
    SandboxError,
    alive,
    buildah_base_args,
    default_state_dir,
    ensure_passwords,
    ensure_release_tag,
    exact_allowed_scms,
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
from koji_containerbuild.sandbox.env.workers import HostWorkers
from koji_containerbuild.sandbox.kojid import proctree

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
    "RELEASE_TAG",
    "REPO_ROOT",
    "STATE_ENV",
    "TARGET",
    "USER",
    "HostSpec",
    "Paths",
    "Sandbox",
    "SandboxError",
    "alive",
    "build_base_image",
    "buildah_base_args",
    "default_state_dir",
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
    """The hub (in this process), the workers (one per host), the registry and the git daemon.

    ``hosts`` (default: one host ``builder`` of this machine's arch) are the
    builder hosts; each has its own worker process, in the container channel.
    """

    def __init__(
        self,
        state_dir: str | None = None,
        allowed_scms: str | None = None,
        worker_poll: float = 0.3,
        hosts: list[HostSpec] | None = None,
    ) -> None:
        self.paths = Paths(state_dir or default_state_dir())
        self.allowed_scms = allowed_scms
        self.worker_poll = worker_poll
        self.hosts = list(hosts or sandbox_hosts.default_hosts(host_arch()))
        self.registry: Any = None
        self.registry_address = ""
        self.production: Any = None
        self.production_address = ""
        self.lookaside: Any = None
        self.signer_fingerprint = ""
        self.hub: Any = None
        self.server: Any = None
        self.git: GitServer | None = None
        self._workers = HostWorkers(self.paths, self.hosts, worker_poll)
        self._started: list[str] = []
        self._sessions: dict[str, koji.ClientSession] = {}

    @property
    def worker(self) -> subprocess.Popen | None:
        """The first host's worker (the one worker of a one-host sandbox)."""
        return self.workers.get(self.hosts[0].name)

    @property
    def arches(self) -> list[str]:
        """Every arch some host builds: the demo build tag's arches."""
        return sandbox_hosts.all_arches(self.hosts)

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

        problems = sandbox_hosts.emulation_problems(self.hosts)
        problems += [p for p in map(busybox_problem, self.arches) if p]
        if problems:
            raise SandboxError(problems[0])
        self.paths.make()
        ports = load_ports(self.paths)
        self.registry = Registry(self.paths.registry, port=ports.get("registry", 0))
        self.registry_address = self.registry.start()
        self._started.append("registry")
        self._start_production(ports)
        for host in self.hosts:
            write_builder_config(
                self.paths, self.registry_address, host.name, host.arch, self.signer_fingerprint
            )
        write_hub_config(self.paths, self.production_address)
        os.environ[BUILDER_CONFIG_ENV] = self.paths.host_builder_config(self.hosts[0].name)
        os.environ[HUB_CONFIG_ENV] = self.paths.hub_config
        build_base_image(self.paths, os.path.join(self.paths.logs, "base-image.log"),
                         self.arches)  # fmt: skip
        self._start_hub(ports.get("hub", 0))
        self.git = GitServer(
            self.paths.git,
            port=ports.get("git", 0),
            log_path=os.path.join(self.paths.logs, "git.log"),
        )
        self.git.start()
        self._started.append("git")
        # None: exactly this sandbox's git daemon.
        scms = self.allowed_scms or exact_allowed_scms(self.git.host, self.git.port)
        self._workers.write_options(self.hub_url, scms)
        self.start_worker()
        self._write_info()
        with open(self.paths.ports, "w", encoding="utf-8") as handle:
            json.dump({"registry": self.registry.port, "hub": self.server.port,
                       "git": self.git.port, "production": self.production.port,
                       "lookaside": int(self.lookaside.url.rsplit(":", 1)[1])},
                      handle)  # fmt: skip

    def _start_production(self, ports: dict) -> None:
        """The production registry, the builder's signing key, its lookaside and policy."""
        from koji_containerbuild.sandbox.env import signing
        from koji_containerbuild.sandbox.env.registry import Registry

        self.production = Registry(self.paths.production_registry, port=ports.get("production", 0))
        self.production_address = self.production.start()
        self._started.append("production")
        if not os.path.exists(self.paths.signer_fingerprint):
            fingerprint = signing.make_gpg_key(
                self.paths.gpg_home,
                "koji-containerbuild sandbox builder <builder@sandbox.invalid>",
            )
            signing.export_public_key(self.paths.gpg_home, fingerprint, self.paths.public_key)
            with open(self.paths.signer_fingerprint, "w", encoding="utf-8") as handle:
                handle.write(fingerprint + "\n")
        with open(self.paths.signer_fingerprint, encoding="utf-8") as handle:
            self.signer_fingerprint = handle.read().strip()
        port = ports.get("lookaside", 0)
        self.lookaside = signing.LookasideServer(
            self.paths.lookaside, port if port_free(port) else 0
        )
        self.lookaside.start()
        self._started.append("lookaside")
        signing.write_registries_d(self.paths.registries_d, self.production_address,
                                   self.paths.lookaside, self.lookaside.url)  # fmt: skip
        signing.write_policy(self.paths.policy, self.production_address, self.paths.public_key)

    def _start_hub(self, port: int = 0) -> None:
        from koji_containerbuild.sandbox.kojihub.hub import SandboxHub
        from koji_containerbuild.sandbox.kojihub.server import serve

        self.hub = SandboxHub(self.paths.topdir, hub_plugins=[HUB_PLUGIN])
        # its own plugin config even beside another sandbox in this process
        self.hub.plugin_config = self.paths.hub_config
        passwords = ensure_passwords(self.paths, tuple(host.name for host in self.hosts))
        arches = " ".join(self.arches)
        if not os.path.exists(self.paths.setup_done):
            setup_demo(self.hub, arches, passwords)
            with open(self.paths.setup_done, "w", encoding="utf-8") as handle:
                handle.write("done\n")
        else:
            set_passwords(self.hub, passwords)
            ensure_release_tag(self.hub)
        sandbox_hosts.apply_hosts(self.hub, self.hosts, passwords, CHANNEL, CG_NAME)
        for tag in (BUILD_TAG, DEST_TAG):
            self.hub.set_tag_arches(tag, arches)
        self.hub.task_listeners.append(self._workers.wake)
        self.server = serve(self.hub, port=port)
        self._started.append("hub")
        write_koji_config(self.paths, self.server.url)

    @property
    def workers(self) -> dict[str, subprocess.Popen]:
        """Each host's worker process, by host name."""
        return self._workers.processes

    def start_worker(self, host: str | None = None) -> subprocess.Popen:
        """Start the kojid stand-in of ``host`` (default: of every host not running one)."""
        return self._workers.start(self.hub_url, host)

    def stop_worker(self, timeout: float = 30.0, host: str | None = None) -> None:
        """Stop workers (default: all) as ``systemctl stop kojid`` does: their tasks are freed."""
        self._workers.stop(host, timeout)

    def kill_worker(self, host: str | None = None) -> None:
        """Kill workers (default: all) and their task processes outright, as a crash would."""
        self._workers.kill(host)

    def crash_worker(self, host: str | None = None) -> None:
        """kill -9 of workers (default: all) alone, as of kojid outside systemd."""
        self._workers.crash(host)

    def exited_workers(self) -> list[str]:
        """Hosts whose worker process has exited (the supervisor restarts them)."""
        return self._workers.exited()

    def _write_info(self) -> None:
        info = {
            "pid": os.getpid(),
            "hub_url": self.hub_url,
            "registry": self.registry_address,
            "production_registry": self.production_address,
            "lookaside": self.lookaside.url,
            "policy": self.paths.policy,
            "signer_fingerprint": self.signer_fingerprint,
            "git_url": self.git.url,
            "worker_pid": self.worker.pid if self.worker else None,
            "hosts": [
                {"name": h.name, "arches": list(h.arches), "worker_pid": self._workers.pid(h.name)}
                for h in self.hosts
            ],
            "state_dir": self.paths.state,
            "started": time.time(),
        }
        with open(self.paths.info, "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2)

    def stop(self) -> None:
        """Stop everything this object started, newest first."""
        if self.workers:
            self.stop_worker()
        for session in self._sessions.values():
            with contextlib.suppress(Exception):
                session.logout()
        self._sessions.clear()
        if "git" in self._started and self.git is not None:
            self.git.stop()
        if "hub" in self._started and self.server is not None:
            self.server.stop()
        if "lookaside" in self._started and self.lookaside is not None:
            self.lookaside.stop()
        if "production" in self._started and self.production is not None:
            self.production.stop()
            from koji_containerbuild.sandbox.env import signing

            signing.stop_gpg_agent(self.paths.gpg_home)
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

    def task_logs_of(self, task_id: int) -> str:
        """The worker log directory (task-<id>.log, .pid) of the host that took ``task_id``."""
        session = self.session(ADMIN)
        host_id = session.getTaskInfo(task_id, strict=True)["host_id"]
        if host_id is None:
            raise SandboxError(f"Task {task_id} has not been taken by a host.")
        return self.paths.task_logs(session.getHost(host_id, strict=True)["name"])

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
