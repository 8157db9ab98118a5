"""A docker-distribution registry on loopback for the sandbox and the tests.

It runs Debian's ``docker-registry`` (Fedora: ``registry`` from
docker-distribution) with filesystem storage under one directory, plain HTTP
on 127.0.0.1 only and manifest deletion enabled, so the local backend can push
images and withdraw a cancelled build's pushes.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from koji_containerbuild import LOGGER_NAME

log = logging.getLogger(f"{LOGGER_NAME}.sandbox.registry")

#: Binary names of the registry on Debian and Fedora.
REGISTRY_BINARIES = ("docker-registry", "registry")

_CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {host}:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


class RegistryError(RuntimeError):
    """The registry could not be started."""


def find_registry_binary() -> str:
    """Path of the docker-distribution registry binary, or RegistryError."""
    for name in REGISTRY_BINARIES:
        path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
        if path:
            return path
    raise RegistryError(
        "No docker-distribution registry found; install the docker-registry package "
        "(Debian) or docker-distribution (Fedora)."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Registry:
    """One registry process serving ``root_dir`` on ``host:port``."""

    def __init__(self, root_dir: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root_dir = os.path.abspath(root_dir)
        self.host = host
        self.port = port
        self.address: str | None = None
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    @property
    def config_path(self) -> str:
        return os.path.join(self.root_dir, "config.yml")

    @property
    def log_path(self) -> str:
        return os.path.join(self.root_dir, "registry.log")

    def start(self, timeout: float = 30.0) -> str:
        """Start the registry and return ``host:port`` once ``/v2/`` answers."""
        if self._proc is not None:
            return self.address or ""
        binary = find_registry_binary()
        storage = os.path.join(self.root_dir, "storage")
        os.makedirs(storage, exist_ok=True)
        port = self.port or _free_port(self.host)
        with open(self.config_path, "w", encoding="utf-8") as config:
            config.write(_CONFIG.format(storage=storage, host=self.host, port=port))
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [binary, "serve", self.config_path],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.port = port
        self.address = f"{self.host}:{port}"
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("registry serving %s from %s", self.address, storage)
        return self.address

    def _wait_ready(self, timeout: float) -> None:
        url = f"http://{self.address}/v2/"
        # Loopback never goes through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise RegistryError(
                    f"The registry exited at start (status {self._proc.returncode}); "
                    f"see {self.log_path}."
                )
            try:
                with opener.open(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"The registry did not answer on {url} within {timeout:.0f} s; "
                    f"see {self.log_path}."
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the registry and wait for it; no process is left behind."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> Registry:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
