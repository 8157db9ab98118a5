"""Live, append-only upload of growing task log files into the task output.

Each file is sent in chunks at increasing offsets with the hub calls
koji.daemon.incremental_upload uses (``uploadFile`` with a sha256 digest, or
``rawUpload`` when fast upload is on), so every byte crosses the wire once
and ``koji watch-logs`` sees the log grow. Chunks are large during a burst
(few calls) and small only when the flush interval elapses on a slow log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import Any, Callable

from koji.util import adler32_constructor, base64encode

from koji_containerbuild import LOGGER_NAME

logger = logging.getLogger(f"{LOGGER_NAME}.uploads")

#: Largest chunk sent in one call (kojid's uploadWrapper uses the same size).
MAX_CHUNK = 1024 * 1024
#: Pending bytes that wake the uploader before the flush interval elapses.
BURST_THRESHOLD = MAX_CHUNK


class LogUploadError(Exception):
    """Part of a task log could not be uploaded; the task output is incomplete."""


#: Queued bytes at which the writer waits for the uploader (bounds memory).
MAX_QUEUED = 2 * 1024 * 1024


class UploadedFile:
    """One log file: what was written to it locally and what the hub has."""

    def __init__(self, path: str, name: str):
        self.path = path
        self.name = name
        self.handle = open(path, "wb")  # noqa: SIM115 - closed by LiveUploader.close
        self.written = 0
        self.uploaded = 0
        self.failed = False

    def append(self, pieces: list[bytes], size: int) -> None:
        """Write encoded lines (newlines included); only the uploader thread writes."""
        self.handle.writelines(pieces)
        self.written += size


class LiveUploader:
    """Background thread that writes the queued lines to the files and uploads them.

    The writer hands over work through the ``take``/``process`` hooks and
    calls :meth:`wrote`; the thread sleeps on a Condition (no polling) until
    work is pending, then waits at most ``flush_interval`` (less when a burst
    fills :data:`BURST_THRESHOLD`). Doing the file writes here keeps the
    writer's per-line work to a list append.
    """

    def __init__(
        self,
        session: Any,
        upload_path: str,
        flush_interval: float = 0.2,
        retries: int = 3,
        retry_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session = session
        self.upload_path = upload_path
        self.flush_interval = flush_interval
        self.retries = retries
        self.retry_delay = retry_delay
        self._sleep = sleep
        self.files: list[UploadedFile] = []
        self.errors: list[str] = []
        self.calls = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._pending = 0
        self._pending_since: float | None = None
        #: pending size at which the writer next has to wake the thread
        self._signal_at = 1
        self._closing = False
        self._fast = bool(getattr(session, "opts", None) and session.opts.get("use_fast_upload"))
        #: hooks of the writer: take() runs under the lock and returns the new
        #: work, process(work) runs outside it and writes the files
        self.take: Callable[[], Any] | None = None
        self.process: Callable[[Any], None] = lambda work: None
        self._thread = threading.Thread(target=self._run, name="log-uploader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, path: str, name: str) -> UploadedFile:
        """Create (truncate) a local file that will be uploaded as ``name``."""
        uploaded = UploadedFile(path, name)
        self.files.append(uploaded)
        return uploaded

    def wrote(self, nbytes: int) -> None:
        """Account for bytes just queued; the caller holds :attr:`lock`."""
        pending = self._pending = self._pending + nbytes
        if pending < self._signal_at:
            return
        if self._pending_since is None:
            # first bytes since the last flush: start the flush_interval clock
            self._pending_since = time.monotonic()
            self._signal_at = BURST_THRESHOLD
            self.cond.notify_all()
        elif pending < MAX_QUEUED:
            # a burst: flush now rather than at the interval
            self._signal_at = MAX_QUEUED
            self.cond.notify_all()
        else:
            while self._pending >= MAX_QUEUED and not self._closing:
                self.cond.wait()

    def close(self) -> None:
        """Send everything still pending, stop the thread, close the files."""
        with self.cond:
            self._closing = True
            self.cond.notify()
        self._thread.join()
        for uploaded in self.files:
            uploaded.handle.close()
        if self.errors:
            raise LogUploadError(" ".join(self.errors))

    # -- the thread ----------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self.cond:
                closing = self._wait_for_work()
                work = self.take() if self.take is not None else None
                self._pending = 0
                self._pending_since = None
                self._signal_at = 1
                self.cond.notify_all()  # a writer may wait for room
            if work is not None:
                self.process(work)
            for uploaded in list(self.files):
                uploaded.handle.flush()
                self._send(uploaded, uploaded.written)
            if closing:
                return

    def _wait_for_work(self) -> bool:
        """Block until a flush is due; True when this is the final one."""
        while True:
            if self._closing:
                return True
            if self._pending_since is None:
                self.cond.wait()
                continue
            if self._pending >= BURST_THRESHOLD:
                return False
            remaining = self._pending_since + self.flush_interval - time.monotonic()
            if remaining <= 0:
                return False
            self.cond.wait(remaining)

    def _send(self, uploaded: UploadedFile, target: int) -> None:
        if uploaded.failed or uploaded.uploaded >= target:
            return
        with open(uploaded.path, "rb") as source:
            while uploaded.uploaded < target:
                size = min(MAX_CHUNK, target - uploaded.uploaded)
                chunk = os.pread(source.fileno(), size, uploaded.uploaded)
                if not chunk:
                    return
                if not self._send_chunk(uploaded, chunk):
                    uploaded.failed = True
                    self.errors.append(
                        f"Uploading {uploaded.name} to the task output failed at byte "
                        f"{uploaded.uploaded}; the uploaded log is incomplete (the full log "
                        f"is at {uploaded.path} on the builder)."
                    )
                    return
                uploaded.uploaded += len(chunk)
                self.calls += 1
                self.bytes_sent += len(chunk)

    def _send_chunk(self, uploaded: UploadedFile, chunk: bytes) -> bool:
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.retry_delay * (2 ** (attempt - 1)))
            try:
                if self._upload(uploaded.name, chunk, uploaded.uploaded):
                    return True
                logger.warning("Hub refused chunk of %s at %d", uploaded.name, uploaded.uploaded)
            except Exception:
                logger.warning(
                    "Uploading %s at offset %d failed",
                    uploaded.name,
                    uploaded.uploaded,
                    exc_info=True,
                )
        return False

    def _upload(self, name: str, chunk: bytes, offset: int) -> bool:
        if self._fast:
            result = self.session.rawUpload(chunk, offset, self.upload_path, name, overwrite=True)
            return result["hexdigest"] == adler32_constructor(chunk).hexdigest()
        digest = hashlib.sha256(chunk).hexdigest()
        return bool(
            self.session.uploadFile(
                self.upload_path, name, len(chunk), ("sha256", digest), offset, base64encode(chunk)
            )
        )
