"""Serve the sandbox's git repositories over git:// on loopback.

kojid checks sources out with koji.daemon.SCM, which takes git:// URLs; a
``git daemon`` bound to 127.0.0.1 lets the real checkout code run against
repositories that live in the sandbox directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time

from koji_containerbuild import LOGGER_NAME

LOGGER = logging.getLogger(LOGGER_NAME + ".sandbox.gitserve")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Koji Sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@localhost",
    "GIT_COMMITTER_NAME": "Koji Sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@localhost",
}


class GitServeError(RuntimeError):
    """The git daemon could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the daemon binds it just after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def git(args: list[str], cwd: str) -> str:
    """Run git with a fixed identity; return its stdout."""
    env = dict(os.environ)
    env.update(GIT_ENV)
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitServeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class GitServer:
    """A ``git daemon`` exporting every repository under ``base_dir``."""

    def __init__(self, base_dir: str, host: str = "127.0.0.1", port: int = 0,
                 log_path: str | None = None) -> None:  # fmt: skip
        self.base_dir = os.path.abspath(base_dir)
        self.host = host
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"git://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        """Start the daemon and return its base URL once it accepts connections."""
        if shutil.which("git") is None:
            raise GitServeError("git is not installed; install the git package.")
        os.makedirs(self.base_dir, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        command = [
            "git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
            f"--base-path={self.base_dir}", f"--listen={self.host}", f"--port={self.port}",
            self.base_dir,
        ]  # fmt: skip
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GitServeError(
                    f"git daemon exited with status {self.process.returncode};"
                    f" see {self.log_path or 'its output'}."
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    LOGGER.info("git daemon serving %s at %s", self.base_dir, self.url)
                    return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise GitServeError(f"git daemon did not listen on {self.host}:{self.port} in time.")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def repo_path(self, name: str) -> str:
        return os.path.join(self.base_dir, name)

    def repo_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    def publish(self, name: str, source_dir: str, message: str = "Update",
                branch: str = "main") -> str:  # fmt: skip
        """Make ``name`` hold exactly the files of ``source_dir``; return the commit.

        The repository is a plain (non-bare) repository created on first use;
        every call commits the directory's current content on ``branch``.
        """
        path = self.repo_path(name)
        if not os.path.isdir(os.path.join(path, ".git")):
            os.makedirs(path, exist_ok=True)
            git(["init", "-q", "-b", branch], path)
        for entry in os.listdir(path):
            if entry == ".git":
                continue
            full = os.path.join(path, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        shutil.copytree(source_dir, path, dirs_exist_ok=True, symlinks=True)
        git(["add", "-A", "."], path)
        git(["commit", "-q", "--allow-empty", "-m", message], path)
        return git(["rev-parse", "HEAD"], path).strip()

    def scm_url(self, name: str, commit: str) -> str:
        """The SCM URL kojid checks out: ``git://host:port/<name>#<commit>``."""
        return f"{self.repo_url(name)}#{commit}"
