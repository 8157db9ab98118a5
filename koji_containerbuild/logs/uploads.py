"""Live, append-only upload of growing task log files into the task output.

Each file is sent in chunks at increasing offsets with the hub calls
koji.daemon.incremental_upload uses (``uploadFile`` with a sha256 digest, or
``rawUpload`` when fast upload is on), so every byte crosses the wire once
and ``koji watch-logs`` sees the log grow. The bytes are sent from memory as
they are written (nothing is read back from disk). Chunks are large during a
burst (few calls) and small only when the flush interval elapses on a slow log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any, Callable

import koji
from koji.util import adler32_constructor, base64encode

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.logs.switchinterval import short_switch_interval
from koji_containerbuild.threadsignals import block_async_signals

logger = logging.getLogger(f"{LOGGER_NAME}.uploads")

#: Largest chunk sent in one call (kojid's uploadWrapper uses the same size).
MAX_CHUNK = 1024 * 1024
#: Pending bytes that wake the uploader before the flush interval elapses.
BURST_THRESHOLD = MAX_CHUNK
#: Queued bytes at which the writer waits for the uploader (bounds memory; each
#: file may hold back up to one more MAX_CHUNK during a burst, see LiveUploader._send).
#: Four chunks, not two: the uploader's calls vary in length, and with room for
#: two the writer waited on the slow ones (bench_logs' HTTP burst: +2 points).
MAX_QUEUED = 4 * 1024 * 1024
#: Pieces a held-back chunk is queued again in: small enough for chunks() to join
#: them with the bytes that follow (a quarter of its limit or more would go alone).
_HELD_PIECE = MAX_CHUNK // 8
#: Why the uploader thread flushes: the final flush, a burst, the flush interval.
_FINAL, _BURST, _DUE = "final", "burst", "due"


#: Faults from the hub that another try may get past: the hub could not serve
#: the call just now (RetryError, ServerOffline), a concurrent upload held the
#: file's lock (LockError), or a call of another thread on the same session
#: overtook this one (SequenceError: the retry gets a new call number).
TRANSIENT_FAULTS = (koji.RetryError, koji.ServerOffline, koji.LockError, koji.SequenceError)


class LogUploadError(Exception):
    """Part of a task log could not be uploaded; the task output is incomplete."""


def is_transient(error: BaseException) -> bool:
    """Whether an upload that failed with ``error`` may succeed when sent again.

    The hub's answer is final when it is a fault (a koji.GenericError subclass
    or a plain XML-RPC fault), ActionNotAllowed above all: once the task is
    cancelled or finished, kojihub refuses every upload into it. Only
    :data:`TRANSIENT_FAULTS` and errors that never reached an answer
    (connection refused or reset, timeouts) are worth another try.
    """
    if isinstance(error, TRANSIENT_FAULTS):
        return True
    return not isinstance(error, (koji.GenericError, xmlrpc.client.Fault))


class UploadedFile:
    """One log file: its new bytes wait in memory until the thread writes and sends them."""

    def __init__(self, path: str, name: str):
        self.path = path
        self.name = name
        self.handle = open(path, "wb")  # noqa: SIM115 - closed by LiveUploader.close
        self.written = 0
        self.uploaded = 0
        self.failed = False
        #: bytes not yet written locally nor uploaded, in order
        self.unsent: list[bytes] = []
        #: since when the front of ``unsent`` waits for a full chunk (a burst held it back)
        self.held_since: float | None = None

    def append(self, pieces: list[bytes], size: int) -> None:
        """Queue encoded lines (newlines included); the caller holds the flush_lock."""
        self.unsent.extend(pieces)
        self.written += size


def chunks(parts: list[bytes], limit: int) -> Iterator[bytes]:
    """The bytes of ``parts`` in order, in chunks of at most ``limit`` bytes.

    A part of a quarter of ``limit`` or more goes alone (no copy when it fits,
    memoryview slices when it does not: a 10 MB line costs one chunk of
    memory, not another copy); smaller parts are joined up to ``limit``.
    """
    small: list[bytes] = []
    size = 0
    for part in parts:
        length = len(part)
        if length >= limit // 4:
            if small:
                yield b"".join(small)
                small = []
                size = 0
            if length <= limit:
                yield part
            else:
                view = memoryview(part)
                for start in range(0, length, limit):
                    yield bytes(view[start : start + limit])
            continue
        if size + length > limit:
            yield b"".join(small)
            small = []
            size = 0
        small.append(part)
        size += length
    if small:
        yield b"".join(small)


class LiveUploader:
    """Background thread that writes the log files and uploads their new bytes.

    The writer hands over work through the ``take``/``process`` hooks and
    calls :meth:`wrote`; the thread sleeps on a Condition until work is
    pending, then waits at most ``flush_interval`` (less when a burst fills
    :data:`BURST_THRESHOLD`). While ``feeding`` is set the writer adds lines
    without calling :meth:`wrote` per line (see TaskLogs.drain), so the thread
    then also looks for new lines once per ``flush_interval`` via ``peek``.
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
        #: the hub's ActionNotAllowed text once it refused this task's uploads
        self.refused: str | None = None
        #: time.monotonic() after which nothing more is sent (set by close(budget))
        self.deadline: float | None = None
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
        #: held while lines are turned into file bytes and while the thread
        #: takes a file's unsent bytes, so both happen in order
        self.flush_lock = threading.Lock()
        #: hook of the writer, called by the thread before each flush to write
        #: the lines still queued into the files (takes flush_lock itself)
        self.prepare: Callable[[], None] = lambda: None
        #: True while lines may arrive without wrote(); peek() says if any did
        self.feeding = False
        self.peek: Callable[[], bool] = lambda: False
        self._thread = threading.Thread(target=self._run, name="log-uploader", daemon=True)
        self._short_switch = False

    def start(self) -> None:
        short_switch_interval.enter()
        self._short_switch = True
        self._thread.start()

    def add(self, path: str, name: str) -> UploadedFile:
        """Create (truncate) a local file that will be uploaded as ``name``."""
        uploaded = UploadedFile(path, name)
        self.files.append(uploaded)
        return uploaded

    def wrote(self, nbytes: int, since: float | None = None) -> None:
        """Account for bytes queued (waiting since ``since``); the caller holds :attr:`lock`."""
        pending = self._pending = self._pending + nbytes
        if pending < self._signal_at:
            return
        if self._pending_since is None:
            # first bytes since the last flush: start the flush_interval clock
            self._pending_since = time.monotonic() if since is None else since
            self._signal_at = BURST_THRESHOLD
            self.cond.notify_all()
        elif pending < MAX_QUEUED:
            # a burst: flush now rather than at the interval
            self._signal_at = MAX_QUEUED
            self.cond.notify_all()
        else:
            while self._pending >= MAX_QUEUED and not self._closing:
                self.cond.wait()

    def close(self, budget: float | None = None) -> None:
        """Send everything still pending, stop the thread, close the files.

        With ``budget`` (seconds), give up what is not sent by then: after a
        stop signal kojid sends SIGTERM about 3 s later and SIGKILL 2 s after
        that, so the final flush must end first.
        """
        with self.cond:
            self._closing = True
            if budget is not None:
                self.deadline = time.monotonic() + budget
            self.cond.notify()
        self._thread.join(budget)
        if self._short_switch:
            self._short_switch = False
            short_switch_interval.leave()
        if self._thread.is_alive():
            # a call still in flight; the daemon thread closes the files when it returns
            self.errors.append(
                f"The log upload did not end within {budget:g} s; the uploaded logs are "
                "incomplete."
            )
        if self.errors:
            raise LogUploadError(" ".join(self.errors))

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    # -- the thread ----------------------------------------------------------
    def _run(self) -> None:
        block_async_signals()
        try:
            self._flush_until_closed()
        finally:
            for uploaded in self.files:
                uploaded.handle.close()

    def _flush_until_closed(self) -> None:
        while True:
            with self.cond:
                reason = self._wait_for_work()
                self._pending = 0
                self._pending_since = None
                self._signal_at = 1
                self.cond.notify_all()  # a writer may wait for room
            self.prepare()
            held = 0
            for uploaded in list(self.files):
                if uploaded.unsent:
                    with self.flush_lock:
                        parts = uploaded.unsent
                        uploaded.unsent = []
                    held += self._send(uploaded, parts, whole_only=reason == _BURST)
            if held:
                with self.cond:
                    # what waits for a full chunk goes within one flush interval
                    if self._pending_since is None:
                        self._pending_since = time.monotonic()
                        self._signal_at = BURST_THRESHOLD
            if reason == _FINAL:
                return

    def _wait_for_work(self) -> str:
        """Block until a flush is due; say why (_FINAL, _BURST or _DUE)."""
        while True:
            if self._closing:
                return _FINAL
            if self._pending_since is None:
                if not self.feeding:
                    self.cond.wait()
                    continue
                # lines may have arrived without wrote(): look once per interval
                self.cond.wait(self.flush_interval)
                if self._pending_since is None and not self._closing and self.peek():
                    return _DUE
                continue
            if self._pending >= BURST_THRESHOLD:
                return _BURST
            remaining = self._pending_since + self.flush_interval - time.monotonic()
            if remaining <= 0:
                return _DUE
            self.cond.wait(remaining)

    def _send(self, uploaded: UploadedFile, parts: list[bytes], whole_only: bool = False) -> int:
        """Write and upload ``parts`` chunk by chunk; return the bytes held back.

        With ``whole_only`` (a burst flush) a last chunk shorter than
        MAX_CHUNK is not sent but queued again in front of what came since:
        the next flush sends it joined with that, so a burst costs one call
        per MAX_CHUNK of each file, not one more per file and flush for its
        remainder. Held bytes wait one flush interval at most, as any others.
        """
        last = None
        sent = False
        for chunk in chunks(parts, MAX_CHUNK):
            if last is not None:
                self._write_and_upload(uploaded, last)
                sent = True
            last = chunk
        if last is None:
            uploaded.held_since = None
            return 0
        now = time.monotonic()
        since = now if sent or uploaded.held_since is None else uploaded.held_since
        if (
            whole_only
            and len(last) < MAX_CHUNK
            and not uploaded.failed
            and now - since < self.flush_interval
        ):
            pieces = [last[i : i + _HELD_PIECE] for i in range(0, len(last), _HELD_PIECE)]
            with self.flush_lock:
                uploaded.unsent[:0] = pieces
            uploaded.held_since = since
            return len(last)
        uploaded.held_since = None
        self._write_and_upload(uploaded, last)
        return 0

    def _write_and_upload(self, uploaded: UploadedFile, chunk: bytes) -> None:
        # the local file is written here too, one write per chunk: every
        # call that leaves the GIL costs a wait for it when coming back
        uploaded.handle.write(chunk)
        if uploaded.failed:
            return
        if self.refused is not None or self._past_deadline():
            uploaded.failed = True
            self.errors.append(
                f"{uploaded.name} was not uploaded from byte {uploaded.uploaded} on "
                f"({self.refused or 'no time was left after the stop signal'}); the full "
                f"log is at {uploaded.path} on the builder."
            )
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
        """Send one chunk; retry transient failures with growing pauses, others never."""
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.retry_delay * (2 ** (attempt - 1))
                if self.deadline is not None:
                    left = self.deadline - time.monotonic()
                    if left < pause:
                        return False  # no time for another try before the deadline
                self._sleep(pause)
            try:
                if self._upload(uploaded.name, chunk, uploaded.uploaded):
                    return True
                logger.warning("Hub refused chunk of %s at %d", uploaded.name, uploaded.uploaded)
            except Exception as error:
                if not is_transient(error):
                    logger.warning(
                        "The hub refused %s at offset %d; not trying again: %s",
                        uploaded.name,
                        uploaded.uploaded,
                        error,
                    )
                    if isinstance(error, koji.ActionNotAllowed):
                        # the task is not ours any more: every other upload would fail too
                        self.refused = str(error)
                    return False
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
