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
#: Lines shorter than this get their newline joined on (one queue entry).
_JOIN_LIMIT = 64 * 1024


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
        self._lock = self._uploader.lock
        #: platform -> its log file (None: the line goes to the build log only)
        self._targets: dict[str | None, UploadedFile | None] = {None: None}
        self._closed = False
        self._build_log = self._open(BUILD_LOG)
        self._warnings_log: UploadedFile | None = None

    # -- writing -------------------------------------------------------------
    def write(self, platform: str | None, line: str | bytes) -> None:
        """Append one line (without newline) to the build log and its platform's log."""
        if line.__class__ is str:
            try:
                data = line.encode("utf-8")
            except UnicodeEncodeError:
                data = _encode(line)
            if "_metadata_" in line:
                self._check_metadata(line)
            if "USER_WARNING" in line:
                self._add_warning(_user_warning(line))
        else:
            data = bytes(line)
        try:
            target = self._targets[platform]
        except KeyError:
            target = self._target_for(platform)
        # a huge line is queued without a copy
        pieces = (data + b"\n",) if len(data) < _JOIN_LIMIT else (data, b"\n")
        size = len(data) + 1
        with self._lock:
            if self._closed:
                raise ValueError("TaskLogs is closed")
            self._build_log.queue.extend(pieces)
            self._build_log.written += size
            if target is not None:
                target.queue.extend(pieces)
                target.written += size
                size += size
            self._uploader.wrote(size)

    def close(self) -> None:
        """Upload what is left; raises LogUploadError if any part could not be uploaded."""
        with self._lock:
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

    def _target_for(self, platform: str | None) -> UploadedFile | None:
        with self._lock:
            if platform in self._targets:
                return self._targets[platform]
            target = None
            if isinstance(platform, str) and PLATFORM_RE.match(platform):
                target = self._open(f"{platform}.log")
            self._targets[platform] = target
            return target

    def _add_warning(self, warning: str | None) -> None:
        if warning is None:
            return
        with self._lock:
            if warning in self.user_warnings:
                return
            self.user_warnings.append(warning)
            if self._warnings_log is None:
                self._warnings_log = self._open(USER_WARNINGS_LOG)
            data = _encode(warning) + b"\n"
            self._warnings_log.queue.append(data)
            self._warnings_log.written += len(data)
            self._uploader.wrote(len(data))

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
