"""Where the sandbox keeps things, and the files and setup it writes.

Paths inside the state directory, the plugin config files, the koji CLI
profile, the locally built busybox base image and the demo's users, tags and
target: everything :mod:`koji_containerbuild.sandbox.env.runtime` needs before it
starts a process.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import sys
from typing import Any

from koji_containerbuild.hostarch import host_arch

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
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
#: Tagging a build into RELEASE_TAG promotes it to the production registry, signed.
RELEASE_TAG, SIGNER = "demo-stable", "sandbox"
FLOATING_TAGS = ("latest",)


class SandboxError(RuntimeError):
    """The sandbox could not be started; the message says what to do."""


def exact_allowed_scms(host: str, port: int) -> str:
    """The kojid allowed_scms entry admitting the sandbox git daemon at host:port only.

    kojid splits entries at ':' and matches the URL's host[:port] with fnmatch,
    so the ':' before the port cannot be written as itself. ``[!!-9;-~]`` matches
    one character outside '!'..'9' and ';'..'~': among the printable ASCII an SCM
    URL may hold (source.check_scm_url), that is ':' alone. ``127.0.0.1*`` also
    admitted 127.0.0.10 and 127.0.0.1.evil.example.
    """
    return f"{host}[!!-9;-~]{port}:/*:no"


def default_state_dir() -> str:
    return os.environ.get(STATE_ENV) or os.path.join(REPO_ROOT, ".sandbox")


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
        #: One file per demo user holding its password (directory 0700, files 0600).
        self.passwords = os.path.join(self.config, "passwords")
        self.info = os.path.join(self.run, "sandbox.json")
        self.ports = os.path.join(self.config, "ports.json")
        self.setup_done = os.path.join(self.config, "demo-setup.done")
        #: The production registry promotions copy to, and its signing material.
        self.production_registry = os.path.join(self.state, "registry-production")
        self.signing = os.path.join(self.state, "signing")
        self.gpg_home = os.path.join(self.signing, "gnupg")
        self.signer_fingerprint = os.path.join(self.signing, "fingerprint")
        self.public_key = os.path.join(self.signing, "builder-key.asc")
        self.lookaside = os.path.join(self.signing, "lookaside")
        self.registries_d = os.path.join(self.signing, "registries.d")
        self.policy = os.path.join(self.signing, "policy.json")

    # Each host's own files; the first host (HOST) keeps the sandbox's paths of old.
    def _host_path(self, host: str, legacy: str, *parts: str) -> str:
        return legacy if host == HOST else os.path.join(self.state, "hosts", host, *parts)

    def task_logs(self, host: str = HOST) -> str:
        """The worker's task logs and pid files (``task-<id>.log``, ``task-<id>.pid``)."""
        return self._host_path(host, os.path.join(self.logs, "tasks"), "logs", "tasks")

    def worker_log(self, host: str = HOST) -> str:
        return self._host_path(host, os.path.join(self.logs, "worker.log"), "logs", "worker.log")

    def host_workdir(self, host: str = HOST) -> str:
        """kojid's workdir of the host."""
        return self._host_path(host, self.workdir, "work")

    def host_kojid_options(self, host: str = HOST) -> str:
        return self._host_path(host, self.kojid_options, "kojid.json")

    def host_builder_config(self, host: str = HOST) -> str:
        return self._host_path(host, self.builder_config, "builder_containerbuild.conf")

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
            self.production_registry,
            self.signing,
        ):
            os.makedirs(path, exist_ok=True)  # fmt: skip


def buildah_base_args(paths: Paths) -> list[str]:
    return ["buildah", "--root", paths.storage_root, "--runroot", paths.storage_runroot,
            "--storage-driver", "vfs"]  # fmt: skip


def write_builder_config(paths: Paths, registry: str, host: str = HOST,
                         arch: str | None = None, fingerprint: str = "") -> str:  # fmt: skip
    """The builder plugin's own config file of a host: local backend, storage, signer.

    ``arch`` (the host's arch, default this machine's) is the builder's
    ``[builder] arch``: what it builds for, through qemu when not native.
    Returns the file's path.
    """
    path = paths.host_builder_config(host)
    text = (
        "[builder]\n"
        "backend = local\n"
        "log_flush_interval = 0.2\n"
        f"cg_name = {CG_NAME}\n"
        f"arch = {arch or host_arch()}\n"
        "\n[local]\n"
        f"registry = {registry}\n"
        "registry_tls_verify = false\n"
        f"state_dir = {paths.local}\n"
        f"storage_root = {paths.storage_root}\n"
        f"storage_runroot = {paths.storage_runroot}\n"
        "storage_driver = vfs\n"
        "isolation = chroot\n"
        "\n[promote]\n"
        f"registries_d = {paths.registries_d}\n"
        f"policy = {paths.policy}\n"
        "tls_verify = false\n"
    )
    if fingerprint:
        text += f"\n[signer:{SIGNER}]\nfingerprint = {fingerprint}\ngpg_home = {paths.gpg_home}\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def write_hub_config(paths: Paths, production_registry: str = "") -> None:
    """The hub plugin's config file: builds in ``container``; RELEASE_TAG promotes."""
    text = (
        "# koji-containerbuild hub plugin settings for the sandbox.\n"
        "[channels]\n"
        f"buildContainer = {CHANNEL}\n"
        f"buildSourceContainer = {CHANNEL}\n"
    )
    if production_registry:
        text += (
            f"\n[promote:{RELEASE_TAG}]\n"
            f"registry = {production_registry}\n"
            f"floating_tags = {', '.join(FLOATING_TAGS)}\n"
            f"signing_identity = {SIGNER}\n"
            f"channel = {CHANNEL}\n"
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


def password_path(paths: Paths, user: str) -> str:
    return os.path.join(paths.passwords, user)


def ensure_passwords(paths: Paths, hosts: tuple[str, ...] = (HOST,)) -> dict[str, str]:
    """Each demo user's password: made at random once, kept readable by this user only.

    The koji CLI ignores passwords in config profiles, so they live in files
    next to the sandbox's koji.conf and are passed with --password.
    """
    os.makedirs(paths.passwords, mode=0o700, exist_ok=True)
    os.chmod(paths.passwords, 0o700)
    passwords = {}
    for user in (USER, ADMIN, *hosts):
        path = password_path(paths, user)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(24) + "\n")
        passwords[user] = read_password(paths.state, user)
    return passwords


def read_password(state_dir: str, user: str) -> str:
    """The password of a demo user (made by ensure_passwords)."""
    with open(password_path(Paths(state_dir), user), encoding="utf-8") as handle:
        return handle.read().strip()


def set_passwords(hub: Any, passwords: dict[str, str]) -> None:
    """Give the demo users their passwords (also replaces those of older sandboxes)."""
    hub.add_user(USER, password=passwords[USER])
    hub.add_user(ADMIN, password=passwords[ADMIN], perms=("admin",))
    hub.add_user(HOST, password=passwords[HOST], host=True)


def setup_demo(hub: Any, arch: str, passwords: dict[str, str]) -> None:
    """Users, channel, host, tags, target, package and CG access of the demo."""
    set_passwords(hub, passwords)
    hub.add_channel(CHANNEL)
    hub.add_host_to_channel(HOST, CHANNEL)
    hub.add_tag(BUILD_TAG, arches=arch)
    hub.add_tag(DEST_TAG, arches=arch)
    hub.add_target(TARGET, BUILD_TAG, DEST_TAG)
    hub.add_package(DEST_TAG, DEMO_PACKAGE, USER)
    hub.grant_cg_access(HOST, CG_NAME)
    ensure_release_tag(hub)


def ensure_release_tag(hub: Any) -> None:
    """RELEASE_TAG with the demo package listed (also in sandboxes set up before it)."""
    if hub.db.one("SELECT 1 FROM tags WHERE name = ?", (RELEASE_TAG,)) is None:
        hub.add_tag(RELEASE_TAG, arches=None)
        hub.add_package(RELEASE_TAG, DEMO_PACKAGE, USER)


def port_free(port: int | None, host: str = "127.0.0.1") -> bool:
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too: TIME_WAIT leftovers do not block them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def load_ports(paths: Paths) -> dict[str, int]:
    """Ports of the previous start, reused so earlier pull specs and URLs stay valid."""
    try:
        with open(paths.ports, encoding="utf-8") as handle:
            saved = json.load(handle)
    except (OSError, ValueError):
        return {}
    return {name: port for name, port in saved.items() if port_free(port)}


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


def weburl_for(hub_url: str) -> str:
    """The sandbox hub's web view (server.py serves it next to /kojihub)."""
    return hub_url.rsplit("/", 1)[0] + "/koji"


def write_koji_config(paths: Paths, hub_url: str, topurl: str | None = None) -> None:
    """A koji CLI profile ``sandbox`` for the hub, polling every second.

    weburl is the hub's web view and topurl its files (/kojifiles unless
    given), so the links the CLI prints and ``koji download-logs`` work.
    """
    text = (
        "[sandbox]\n"
        f"server = {hub_url}\n"
        f"weburl = {weburl_for(hub_url)}\n"
        f"topurl = {topurl or hub_url.rsplit('/', 1)[0] + '/kojifiles'}\n"
        "authtype = password\n"
        "poll_interval = 1\n"
        f"plugin_paths = {CLI_PLUGIN_DIR}\n"
    )
    with open(paths.koji_config, "w", encoding="utf-8") as handle:
        handle.write(text)


def koji_executable() -> str:
    """The koji command the sandbox runs: ``$KCB_KOJI``, else the one of this Python.

    A venv's bin/ need not be on PATH. The tests set KCB_KOJI to their koji
    fork server's client (tests/koji_forkserver.py).
    """
    chosen = os.environ.get("KCB_KOJI")
    if chosen:
        return chosen
    beside = os.path.join(os.path.dirname(sys.executable), "koji")
    return beside if os.access(beside, os.X_OK) else shutil.which("koji") or "koji"


def koji_command(state_dir: str, user: str = USER) -> list[str]:
    """The koji CLI command line that talks to the sandbox hub as ``user``."""
    config = Paths(state_dir).koji_config
    password = read_password(state_dir, user)
    return [
        koji_executable(),
        "-c",
        config,
        "-p",
        "sandbox",
        "--user",
        user,
        "--password",
        password,
    ]


def koji_command_text(state_dir: str, user: str = USER) -> str:
    """koji_command for people to read and paste: the password is read from its file."""
    paths = Paths(state_dir)
    words = [koji_executable(), "-c", paths.koji_config, "-p", "sandbox", "--user", user]
    quoted = " ".join(shlex.quote(word) for word in words)
    return f'{quoted} --password "$(cat {shlex.quote(password_path(paths, user))})"'
