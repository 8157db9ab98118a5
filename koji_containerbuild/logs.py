"""Backend log lines -> per-platform task logs, uploaded live into the task output.

Every line goes to ``osbs-build.log``; a line of a platform also goes to
``<platform>.log`` (``remote-sources.log`` for the remote-sources step).
Lines are untrusted: bytes that are not UTF-8 are kept as they are, user
warnings are parsed defensively, and a ``_metadata_`` path is accepted only
when it names a regular file inside the hub's work directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from typing import Any

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import BackendError
from koji_containerbuild.uploads import LiveUploader, LogUploadError, UploadedFile

__all__ = ["LogUploadError", "TaskLogs", "stream_build_logs"]

logger = logging.getLogger(f"{LOGGER_NAME}.logs")

BUILD_LOG = "osbs-build.log"
USER_WARNINGS_LOG = "user_warnings.log"

#: atomic-reactor logs user warnings at level USER_WARNING with a JSON message.
USER_WARNING_RE = re.compile(r"^.+ - USER_WARNING - (\{.*\})$")
#: atomic-reactor logs ``platform:_metadata_ <path>`` for scratch builds'
#: metadata.json, after its usual ``time - logger - level - `` prefix.
METADATA_RE = re.compile(r"^(?:.* - )?platform:_metadata_ (\S+)$")
#: Platform names that are safe as file names.
PLATFORM_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class TaskLogs:
    """Log files of one task, written locally and uploaded while the build runs."""

    def __init__(
        self,
        session: Any,
        upload_path: str,
        local_dir: str,
        work_dir: str,
        flush_interval: float = 0.2,
        *,
        upload_retries: int = 3,
        retry_delay: float = 1.0,
    ):
        self.local_dir = local_dir
        self.work_dir = work_dir
        self.user_warnings: list[str] = []
        self.metadata_file: str | None = None
        os.makedirs(local_dir, exist_ok=True)
        self._uploader = LiveUploader(
            session, upload_path, flush_interval, retries=upload_retries, retry_delay=retry_delay
        )
        self._cond = self._uploader.cond
        self._files: dict[str | None, UploadedFile] = {}
        self._closed = False
        self._build_log = self._open(BUILD_LOG)
        self._warnings_log: UploadedFile | None = None

    # -- writing -------------------------------------------------------------
    def write(self, platform: str | None, line: str | bytes) -> None:
        """Append one line (without newline) to the build log and its platform's log."""
        if isinstance(line, str):
            text = line
            data = _encode(line)
        else:
            text = None
            data = bytes(line)
        if text is not None and "_metadata_" in text:
            self._check_metadata(text)
        warning = None
        if text is not None and "USER_WARNING" in text:
            warning = _user_warning(text)
        if platform is not None and not PLATFORM_RE.match(platform):
            platform = None
        with self._cond:
            if self._closed:
                raise ValueError("TaskLogs is closed")
            self._append(self._build_log, data)
            if platform is not None:
                target = self._files.get(platform)
                if target is None:
                    target = self._files[platform] = self._open(f"{platform}.log")
                self._append(target, data)
            if warning is not None and warning not in self.user_warnings:
                self.user_warnings.append(warning)
                if self._warnings_log is None:
                    self._warnings_log = self._open(USER_WARNINGS_LOG)
                self._append(self._warnings_log, _encode(warning))

    def close(self) -> None:
        """Upload what is left; raises LogUploadError if any part could not be uploaded."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self._uploader.close()

    def files(self) -> list[str]:
        """Local paths of the log files written, build log first."""
        return [uploaded.path for uploaded in self._uploader.files]

    @property
    def upload_errors(self) -> list[str]:
        return list(self._uploader.errors)

    @property
    def upload_calls(self) -> int:
        return self._uploader.calls

    @property
    def bytes_uploaded(self) -> int:
        return self._uploader.bytes_sent

    # -- helpers -------------------------------------------------------------
    def _open(self, name: str) -> UploadedFile:
        return self._uploader.add(os.path.join(self.local_dir, name), name)

    def _append(self, target: UploadedFile, data: bytes) -> None:
        target.handle.write(data)
        target.handle.write(b"\n")
        target.written += len(data) + 1
        self._uploader.wrote(len(data) + 1)

    def _check_metadata(self, text: str) -> None:
        match = METADATA_RE.match(text)
        if not match:
            return
        path = safe_work_path(self.work_dir, match.group(1))
        if path is None:
            logger.warning("Ignoring _metadata_ path outside the work dir: %r", match.group(1))
        elif self.metadata_file is None:
            self.metadata_file = path


def safe_work_path(work_dir: str, relpath: str) -> str | None:
    """The real path of ``relpath`` if it is a regular file inside ``work_dir``, else None."""
    if not relpath or relpath.startswith("/") or "\0" in relpath:
        return None
    if ".." in relpath.split("/"):
        return None
    root = os.path.realpath(work_dir)
    candidate = os.path.realpath(os.path.join(root, relpath))
    if os.path.commonpath([root, candidate]) != root or candidate == root:
        return None
    if not os.path.isfile(candidate):
        return None
    return candidate


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _user_warning(text: str) -> str | None:
    match = USER_WARNING_RE.match(text)
    if not match:
        return None
    try:
        payload = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    return message.replace("\n", " ")


def stream_build_logs(
    backend: Any,
    handle: str,
    task_logs: TaskLogs,
    cancelled: threading.Event | None = None,
) -> None:
    """Follow ``backend.logs(handle)`` into ``task_logs`` until the logs end.

    Stops early when ``cancelled`` is set. When the backend reports that the
    stream broke for good, a note goes into the build log (so nobody mistakes
    the cut log for a whole one) and the BackendError propagates.
    """
    lines = backend.logs(handle)
    write = task_logs.write
    try:
        if cancelled is None:
            for platform, line in lines:
                write(platform, line)
        else:
            for platform, line in lines:
                if cancelled.is_set():
                    break
                write(platform, line)
    except BackendError as exc:
        write(None, f"koji-containerbuild: the build log is incomplete: {exc}")
        raise
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
