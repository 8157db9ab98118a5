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
import operator
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
#: Lines per inbox list before the writer hands it over as one batch.
_ROTATE_LINES = 4096
#: Lines longer than this are processed alone (no joined copy of them).
_BIG_LINE = 256 * 1024


class TaskLogs:
    """Log files of one task, written locally and uploaded while the build runs.

    :meth:`write` only appends the line to an inbox list; the uploader thread
    takes the inbox in batches and encodes, routes, writes and uploads them
    with a few C-level joins per batch instead of Python work per line.
    ``write`` is meant to be called from one thread (the log reader).
    """

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
        #: lines appended by the writer without a lock; the uploader takes
        #: items[_taken:] under the lock, the writer rotates full lists out
        self._inbox: list[tuple[str | None, str | bytes]] = []
        self._taken = 0
        self._rotated: list[list[tuple[str | None, str | bytes]]] = []
        #: True when the uploader took everything: the next line must wake it
        self._idle = True
        self._uploader.take = self._take
        self._uploader.process = self._process
        self._uploader.start()

    # -- the writer side -------------------------------------------------------
    def write(self, platform: str | None, line: str | bytes) -> None:
        """Queue one line (without newline) for the build log and its platform's log."""
        inbox = self._inbox
        inbox.append((platform, line))
        # _idle is set by the uploader before it measures the inbox, so a
        # line appended after that measurement always sees it True here
        if self._idle or len(inbox) >= _ROTATE_LINES or self._closed:
            self._kick()

    def _kick(self) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("TaskLogs is closed")
            inbox = self._inbox
            if len(inbox) >= _ROTATE_LINES:
                batch = inbox[self._taken :]
                self._rotated.append(batch)
                self._inbox = []
                self._taken = 0
                self._idle = False
                self._uploader.wrote(sum(map(len, map(_line_of, batch))) + len(batch))
            elif self._idle:
                self._idle = False
                self._uploader.wrote(1)

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

    # -- the uploader side -------------------------------------------------------
    def _take(self) -> list[list[tuple[str | None, str | bytes]]]:
        """Everything written so far; runs in the uploader thread under the lock."""
        self._idle = True
        batches = self._rotated
        self._rotated = []
        end = len(self._inbox)
        if end > self._taken:
            batches.append(self._inbox[self._taken : end])
            self._taken = end
        return batches

    def _process(self, batches: list[list[tuple[str | None, str | bytes]]]) -> None:
        for items in batches:
            if items and not self._process_fast(items):
                for platform, line in items:
                    self._process_line(platform, line)

    def _process_fast(self, items: list[tuple[str | None, str | bytes]]) -> bool:
        """A batch of ordinary str lines in a few joins; False to go line by line."""
        lines = list(map(_line_of, items))
        if max(map(len, lines)) > _BIG_LINE:
            return False
        try:
            text = "\n".join(lines)
            blob = text.encode("utf-8")
        except (TypeError, UnicodeEncodeError):  # bytes or surrogates in the batch
            return False
        if "_metadata_" in text or "USER_WARNING" in text:
            for line in lines:
                self._inspect(line)
        self._build_log.append([blob, b"\n"], len(blob) + 1)
        platforms = dict.fromkeys(map(_platform_of, items))
        for platform in platforms:
            target = self._target_for(platform)
            if target is None:
                continue
            if len(platforms) == 1:
                part = blob
            else:
                part = "\n".join([line for p, line in items if p == platform]).encode("utf-8")
            target.append([part, b"\n"], len(part) + 1)
        return True

    def _process_line(self, platform: str | None, line: str | bytes) -> None:
        if isinstance(line, str):
            self._inspect(line)
            data = _encode(line)
        else:
            data = bytes(line)
        pieces = [data, b"\n"]
        self._build_log.append(pieces, len(data) + 1)
        target = self._target_for(platform)
        if target is not None:
            target.append(pieces, len(data) + 1)

    def _inspect(self, line: str) -> None:
        if "_metadata_" in line:
            self._check_metadata(line)
        if "USER_WARNING" in line:
            self._add_warning(_user_warning(line))

    def _open(self, name: str) -> UploadedFile:
        return self._uploader.add(os.path.join(self.local_dir, name), name)

    def _target_for(self, platform: str | None) -> UploadedFile | None:
        try:
            return self._targets[platform]
        except KeyError:
            pass
        target = None
        if isinstance(platform, str) and PLATFORM_RE.match(platform):
            target = self._open(f"{platform}.log")
        self._targets[platform] = target
        return target

    def _add_warning(self, warning: str | None) -> None:
        if warning is None or warning in self.user_warnings:
            return
        self.user_warnings.append(warning)
        if self._warnings_log is None:
            self._warnings_log = self._open(USER_WARNINGS_LOG)
        data = _encode(warning)
        self._warnings_log.append([data, b"\n"], len(data) + 1)

    def _check_metadata(self, text: str) -> None:
        match = METADATA_RE.match(text)
        if not match:
            return
        path = safe_work_path(self.work_dir, match.group(1))
        if path is None:
            logger.warning("Ignoring _metadata_ path outside the work dir: %r", match.group(1))
        elif self.metadata_file is None:
            self.metadata_file = path


_platform_of = operator.itemgetter(0)
_line_of = operator.itemgetter(1)


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
