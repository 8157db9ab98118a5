"""The registry calls of a promotion, as skopeo commands.

Every copy keeps the manifest's digest (``--preserve-digests``) and copies
every arch (``--all``). Copies run with a policy that accepts anything: the
candidate is trusted because its digest matches the Koji record, checked
before. The signature check runs with the admin's policy.json, as a client's
pull would. A failed command is a PromoteError with one sentence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.promoteconfig import PromoteSettings

log = logging.getLogger(LOGGER_NAME + ".promote.registry")

_ACCEPT_ANYTHING = {"default": [{"type": "insecureAcceptAnything"}]}
#: Phrases skopeo prints when a manifest or repository is not there.
_NOT_FOUND = ("manifest unknown", "name unknown", "not found", "404")


class PromoteError(Exception):
    """A promotion step failed; the message is one sentence for the task result."""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    # skopeo's fatal lines: time="..." level=fatal msg="..."
    if 'msg="' in line:
        line = line.split('msg="', 1)[1].rstrip('"').replace('\\"', '"')
    return line[:500]


class Registries:
    """skopeo against the candidate and production registries, with one task's scratch dir."""

    def __init__(self, settings: PromoteSettings, workdir: str) -> None:
        self.settings = settings
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.copy_policy = os.path.join(workdir, "copy-policy.json")
        with open(self.copy_policy, "w", encoding="utf-8") as handle:
            json.dump(_ACCEPT_ANYTHING, handle)

    def _tls(self, *flags: str) -> list[str]:
        value = "true" if self.settings.tls_verify else "false"
        return [f"{flag}={value}" for flag in flags]

    def _run(
        self,
        args: list[str],
        env: Mapping[str, str] | None = None,
        policy: str = "",
        raw: bool = False,
    ) -> subprocess.CompletedProcess:
        cmd = ["skopeo", "--policy", policy or self.copy_policy,
               "--registries.d", self.settings.registries_d, *args]  # fmt: skip
        log.info("running %s", " ".join(cmd))
        try:
            result = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.settings.skopeo_timeout,
                env={**os.environ, **(env or {})},
                check=False,
            )
            if not raw:
                result.stdout = result.stdout.decode("utf-8", "replace")
            result.stderr = result.stderr.decode("utf-8", "replace")
            return result
        except subprocess.TimeoutExpired:
            raise PromoteError(
                f"skopeo {args[0]} did not finish within {self.settings.skopeo_timeout:g} s "
                "([promote] skopeo_timeout)."
            ) from None
        except FileNotFoundError:
            raise PromoteError("skopeo is not installed on this builder.") from None

    def manifest_digest(self, reference: str) -> str | None:
        """The digest the registry serves for ``reference``; None when it has none."""
        args = ["inspect", "--raw", *self._tls("--tls-verify"), f"docker://{reference}"]
        result = self._run(args, raw=True)
        if result.returncode == 0:
            return "sha256:" + hashlib.sha256(result.stdout).hexdigest()
        if any(phrase in result.stderr.lower() for phrase in _NOT_FOUND):
            return None
        raise PromoteError(f"Cannot read {reference}: {_last_line(result.stderr)}.")

    def copy(self, source: str, destination: str, extra: list[str] = (), env=None) -> None:
        """Copy every arch of ``source`` to ``destination``, digests unchanged."""
        args = ["copy", "--all", "--preserve-digests", "--quiet",
                *self._tls("--src-tls-verify", "--dest-tls-verify"), *extra,
                f"docker://{source}", f"docker://{destination}"]  # fmt: skip
        result = self._run(args, env=env)
        if result.returncode != 0:
            raise PromoteError(
                f"Copying {source} to {destination} failed: {_last_line(result.stderr)}."
            )

    def verify(self, reference: str) -> str | None:
        """Pull ``reference`` under the admin's policy.json; None when accepted, else why not."""
        target = tempfile.mkdtemp(prefix="verify-", dir=self.workdir)
        try:
            result = self._run(
                ["copy", "--all", "--quiet", *self._tls("--src-tls-verify"), f"docker://{reference}",
                 f"dir:{target}"],
                policy=self.settings.policy,
            )  # fmt: skip
        finally:
            shutil.rmtree(target, ignore_errors=True)
        return None if result.returncode == 0 else _last_line(result.stderr)

    def delete(self, reference: str) -> None:
        result = self._run(["delete", *self._tls("--tls-verify"), f"docker://{reference}"])
        if result.returncode != 0:
            raise PromoteError(f"Deleting {reference} failed: {_last_line(result.stderr)}.")

    def tags(self, repository: str) -> list[str]:
        result = self._run(["list-tags", *self._tls("--tls-verify"), f"docker://{repository}"])
        if result.returncode != 0:
            if any(phrase in result.stderr.lower() for phrase in _NOT_FOUND):
                return []
            raise PromoteError(
                f"Cannot list the tags of {repository}: {_last_line(result.stderr)}."
            )
        return list(json.loads(result.stdout).get("Tags") or [])
