"""Start and stop the whole sandbox: hub, worker, registry and git daemon.

Everything lives in one state directory (default ``<repo>/.sandbox`` or
``$KOJI_CONTAINERBUILD_SANDBOX``): the hub's SQLite state and files, the
registry's storage, buildah's storage, git repositories, the plugins' config
files, logs and pid files. :class:`Sandbox` starts the pieces in order and
stops everything it started, in reverse order, on :meth:`Sandbox.stop`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.sandbox import proctree
from koji_containerbuild.sandbox.gitserve import GitServer
from koji_containerbuild.sandbox.taskrun import PASSWORD_ENV

LOGGER = logging.getLogger(LOGGER_NAME + ".sandbox.runtime")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HUB_PLUGIN = os.path.join(REPO_ROOT, "plugins", "hub", "hub_containerbuild.py")
BUILDER_PLUGIN = os.path.join(REPO_ROOT, "plugins", "builder", "builder_containerbuild.py")
CLI_PLUGIN_DIR = os.path.join(REPO_ROOT, "cli")
EXAMPLES_DIR = os.path.join(REPO_ROOT, "examples")

STATE_ENV = "KOJI_CONTAINERBUILD_SANDBOX"
BUILDER_CONFIG_ENV = "KOJI_CONTAINERBUILD_BUILDER_CONFIG"
HUB_CONFIG_ENV = "KOJI_CONTAINERBUILD_HUB_CONFIG"

BASE_IMAGE = "localhost/koji-sandbox-base:latest"
BUSYBOX = "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "cat", "echo", "ls", "mkdir", "rm", "cp", "sleep", "true", "false",
                   "env", "test", "touch", "grep", "sed", "id", "uname", "date")  # fmt: skip

# The ready-made demo setup (users are named after what they do).
USER, ADMIN, HOST = "alice", "admin", "builder"
CHANNEL, TARGET = "container", "demo"
BUILD_TAG, DEST_TAG = "demo-build", "demo-candidate"
DEMO_PACKAGE = "demo-image"
CG_NAME = "koji-containerbuild"
#: kojid allowlist: the sandbox git daemon only (the host carries the port).
DEFAULT_ALLOWED_SCMS = "127.0.0.1*:/*:no"


class SandboxError(RuntimeError):
    """The sandbox could not be started; the message says what to do."""


def default_state_dir() -> str:
    return os.environ.get(STATE_ENV) or os.path.join(REPO_ROOT, ".sandbox")


def host_arch() -> str:
    return koji.canonArch(platform.machine())


class Paths:
    """Where each piece keeps its files inside the state directory."""

    def __init__(self, state_dir: str) -> None:
        self.state = os.path.abspath(state_dir)
        self.topdir = os.path.join(self.state, "koji")
        self.registry = os.path.join(self.state, "registry")
        self.git = os.path.join(self.state, "git")
        self.workdir = os.path.join(self.state, "kojid", "work")
        self.local = os.path.join(self.state, "local")
        self.storage_root = os.path.join(self.state, "containers", "storage")
        self.storage_runroot = os.path.join(self.state, "containers", "run")
        self.logs = os.path.join(self.state, "logs")
        self.run = os.path.join(self.state, "run")
        self.config = os.path.join(self.state, "config")
        self.builder_config = os.path.join(self.config, "builder_containerbuild.conf")
        self.hub_config = os.path.join(self.config, "hub_containerbuild.conf")
        self.kojid_options = os.path.join(self.config, "kojid.json")
        self.koji_config = os.path.join(self.config, "koji.conf")
        self.info = os.path.join(self.run, "sandbox.json")
        self.setup_done = os.path.join(self.config, "demo-setup.done")

    def make(self) -> None:
        for path in (
            self.topdir,
            self.registry,
            self.git,
            self.workdir,
            self.local,
            self.storage_root,
            self.storage_runroot,
            self.logs,
            self.run,
            self.config,
        ):
            os.makedirs(path, exist_ok=True)  # fmt: skip


def buildah_base_args(paths: Paths) -> list[str]:
    return ["buildah", "--root", paths.storage_root, "--runroot", paths.storage_runroot,
            "--storage-driver", "vfs"]  # fmt: skip


def build_base_image(paths: Paths, log_path: str) -> None:
    """Build the busybox base image into the local backend's storage, once."""
    exists = subprocess.run(
        [*buildah_base_args(paths), "inspect", "--type", "image", BASE_IMAGE],
        capture_output=True,
        check=False,
    )
    if exists.returncode == 0:
        return
    if not os.path.exists(BUSYBOX):
        raise SandboxError(f"{BUSYBOX} is missing; install the busybox-static package.")
    context = os.path.join(paths.state, "base-context")
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(os.path.join(EXAMPLES_DIR, "base"), context)
    bindir = os.path.join(context, "rootfs", "bin")
    os.makedirs(bindir)
    os.makedirs(os.path.join(context, "rootfs", "tmp"))
    shutil.copy2(BUSYBOX, os.path.join(bindir, "busybox"))
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(bindir, applet))
    with open(log_path, "ab") as log:
        done = subprocess.run(
            [
                *buildah_base_args(paths),
                "bud",
                "--isolation",
                "chroot",
                "-t",
                BASE_IMAGE,
                context,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    shutil.rmtree(context, ignore_errors=True)
    if done.returncode != 0:
        raise SandboxError(f"Building the base image failed; see {log_path}.")


def write_builder_config(paths: Paths, registry: str) -> None:
    """The builder plugin's own config file: local backend, sandbox storage."""
    text = (
        "[builder]\n"
        "backend = local\n"
        "log_flush_interval = 0.2\n"
        f"cg_name = {CG_NAME}\n"
        "\n[local]\n"
        f"registry = {registry}\n"
        "registry_tls_verify = false\n"
        f"state_dir = {paths.local}\n"
        f"storage_root = {paths.storage_root}\n"
        f"storage_runroot = {paths.storage_runroot}\n"
        "storage_driver = vfs\n"
        "isolation = chroot\n"
    )
    with open(paths.builder_config, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_hub_config(paths: Paths) -> None:
    """The hub plugin's config file: any logged-in user builds in ``container``."""
    text = (
        "# koji-containerbuild hub plugin settings for the sandbox.\n"
        "[channels]\n"
        f"buildContainer = {CHANNEL}\n"
        f"buildSourceContainer = {CHANNEL}\n"
    )
    with open(paths.hub_config, "w", encoding="utf-8") as handle:
        handle.write(text)


def plugin_env(paths: Paths) -> dict[str, str]:
    """Environment for processes that load the plugins."""
    env = dict(os.environ)
    env[BUILDER_CONFIG_ENV] = paths.builder_config
    env[HUB_CONFIG_ENV] = paths.hub_config
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    return env


def setup_demo(hub: Any, arch: str) -> None:
    """Users, channel, host, tags, target, package and CG access of the demo."""
    hub.add_user(USER, password=USER)
    hub.add_user(ADMIN, password=ADMIN, perms=("admin",))
    hub.add_user(HOST, password=HOST, host=True)
    hub.add_channel(CHANNEL)
    hub.add_host_to_channel(HOST, CHANNEL)
    hub.add_tag(BUILD_TAG, arches=arch)
    hub.add_tag(DEST_TAG, arches=arch)
    hub.add_target(TARGET, BUILD_TAG, DEST_TAG)
    hub.add_package(DEST_TAG, DEMO_PACKAGE, USER)
    hub.grant_cg_access(HOST, CG_NAME)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_info(state_dir: str) -> dict | None:
    """The running sandbox's addresses and pids, or None when none runs."""
    try:
        with open(Paths(state_dir).info, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        return None
    return info if alive(info.get("pid", 0)) else None


def write_koji_config(paths: Paths, hub_url: str) -> None:
    """A koji CLI profile ``sandbox`` for the hub, polling every second."""
    text = (
        "[sandbox]\n"
        f"server = {hub_url}\n"
        f"weburl = {hub_url.rsplit('/', 1)[0]}/koji\n"
        "authtype = password\n"
        "poll_interval = 1\n"
        f"plugin_paths = {CLI_PLUGIN_DIR}\n"
    )
    with open(paths.koji_config, "w", encoding="utf-8") as handle:
        handle.write(text)


def koji_command(state_dir: str, user: str = USER) -> list[str]:
    """The koji CLI command line that talks to the sandbox hub as ``user``."""
    config = Paths(state_dir).koji_config
    return ["koji", "-c", config, "-p", "sandbox", "--user", user, "--password", user]


class Sandbox:
    """The hub (in this process), the worker, the registry and the git daemon."""

    def __init__(self, state_dir: str | None = None, allowed_scms: str = DEFAULT_ALLOWED_SCMS,
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
        self._started: list[str] = []

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
        from koji_containerbuild.sandbox.registry import Registry

        self.paths.make()
        self.registry = Registry(self.paths.registry)
        self.registry_address = self.registry.start()
        self._started.append("registry")
        write_builder_config(self.paths, self.registry_address)
        write_hub_config(self.paths)
        os.environ[BUILDER_CONFIG_ENV] = self.paths.builder_config
        os.environ[HUB_CONFIG_ENV] = self.paths.hub_config
        build_base_image(self.paths, os.path.join(self.paths.logs, "base-image.log"))
        self._start_hub()
        self.git = GitServer(self.paths.git, log_path=os.path.join(self.paths.logs, "git.log"))
        self.git.start()
        self._started.append("git")
        self._write_kojid_options()
        self.start_worker()
        self._write_info()

    def _start_hub(self) -> None:
        from koji_containerbuild.sandbox.hub import SandboxHub
        from koji_containerbuild.sandbox.server import serve

        self.hub = SandboxHub(self.paths.topdir, hub_plugins=[HUB_PLUGIN])
        if not os.path.exists(self.paths.setup_done):
            setup_demo(self.hub, host_arch())
            with open(self.paths.setup_done, "w", encoding="utf-8") as handle:
                handle.write("done\n")
        self.server = serve(self.hub)
        self._started.append("hub")
        write_koji_config(self.paths, self.server.url)

    def _write_kojid_options(self) -> None:
        options = {
            "workdir": self.paths.workdir,
            "topdir": self.paths.topdir,
            "topurl": None,
            "allowed_scms": self.allowed_scms,
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
        env[PASSWORD_ENV] = HOST
        command = [
            sys.executable, "-m", "koji_containerbuild.sandbox.worker",
            "--server", self.hub_url, "--user", HOST, "--plugin", BUILDER_PLUGIN,
            "--options", self.paths.kojid_options,
            "--log-dir", os.path.join(self.paths.logs, "tasks"),
            "--poll-interval", str(self.worker_poll),
        ]  # fmt: skip
        with open(os.path.join(self.paths.logs, "worker.log"), "ab") as log:
            self.worker = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )  # fmt: skip
        return self.worker

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

    def koji(self, user: str = USER) -> list[str]:
        return koji_command(self.paths.state, user)

    def session(self, user: str = USER) -> koji.ClientSession:
        """A logged-in ClientSession for ``user`` (password = user name)."""
        session = koji.ClientSession(self.hub_url, {"user": user, "password": user})
        session.login()
        return session

    def publish(self, name: str, source_dir: str, message: str = "Update") -> str:
        """Commit ``source_dir`` into git repo ``name``; return its SCM URL."""
        commit = self.git.publish(name, source_dir, message)
        return self.git.scm_url(name, commit)
