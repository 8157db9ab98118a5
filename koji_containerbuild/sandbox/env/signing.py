"""Simple signing for the sandbox and the tests: a throwaway GPG key, lookaside, policy.

The builder signs with a key made at setup (no passphrase, its own GNUPGHOME);
signatures go to a lookaside directory (registries.d ``lookaside-staging``)
that a small HTTP server serves on loopback (``lookaside``), as a production
web server would; the policy.json trusts only that key for the production
registry, as a client that verifies would.
"""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import subprocess
import threading

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.sandbox.httpthread import serve_in_thread, stop_serving

log = logging.getLogger(f"{LOGGER_NAME}.sandbox.signing")


def make_gpg_key(gpg_home: str, user_id: str) -> str:
    """Create a signing key without passphrase in ``gpg_home``; its fingerprint."""
    os.makedirs(gpg_home, mode=0o700, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": gpg_home}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", user_id, "ed25519", "sign",
         "never"],
        env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-keys", user_id],
        env=env, check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


def stop_gpg_agent(gpg_home: str) -> None:
    """Stop the gpg-agent that signing started for ``gpg_home`` (gpg leaves it running)."""
    subprocess.run(
        ["gpgconf", "--homedir", gpg_home, "--kill", "all"],
        capture_output=True, check=False, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def export_public_key(gpg_home: str, fingerprint: str, path: str) -> str:
    env = {**os.environ, "GNUPGHOME": gpg_home}
    key = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", fingerprint],
        env=env, check=True, capture_output=True, timeout=30,
    ).stdout  # fmt: skip
    with open(path, "wb") as handle:
        handle.write(key)
    return path


def write_registries_d(directory: str, registry: str, staging_dir: str, url: str) -> str:
    """registries.d: where signatures for ``registry`` are written and read."""
    os.makedirs(directory, exist_ok=True)
    os.makedirs(staging_dir, exist_ok=True)
    path = os.path.join(directory, "production.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            f"docker:\n  {registry}:\n    lookaside: {url}\n"
            f"    lookaside-staging: file://{os.path.abspath(staging_dir)}\n"
        )
    return path


def write_policy(path: str, registry: str, public_key: str) -> str:
    """policy.json trusting only ``public_key``'s signatures for ``registry``."""
    policy = {
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": {
                registry: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": public_key}]
            }
        },
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(policy, handle, indent=2)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        log.debug("lookaside: " + format, *args)


class LookasideServer:
    """Serves the signature lookaside directory on 127.0.0.1, as a web server would."""

    def __init__(self, directory: str, port: int = 0) -> None:
        os.makedirs(directory, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=directory)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        self._thread = serve_in_thread(self._server, "sandbox-lookaside")
        return self.url

    def stop(self) -> None:
        if self._thread is None:
            self._server.server_close()
        else:
            stop_serving(self._server, self._thread)
