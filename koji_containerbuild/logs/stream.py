"""Backend log lines -> per-platform task logs, uploaded live into the task output.

Every line goes to ``osbs-build.log``; a line of a platform also goes to
``<platform>.log`` (``remote-sources.log`` for the remote-sources step).
Lines are untrusted: bytes that are not UTF-8 are kept as they are, user
warnings are parsed defensively, and a ``_metadata_`` path is accepted only
when it names a regular file inside the hub's work directory (loglines.py).
Those markers count only on lines of a log source the backend's feed says
may carry them (``marks_of``); lines written one by one (:meth:`TaskLogs.write`,
e.g. the local backend's build output) never carry any.
"""

from __future__ import annotations

import logging
import operator
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from typing import Any, Callable

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import BackendError
from koji_containerbuild.logs.files import BUILD_LOG, USER_WARNINGS_LOG, LogFiles, Router
from koji_containerbuild.logs.lines import Marks, safe_work_path
from koji_containerbuild.logs.uploads import LiveUploader, LogUploadError

__all__ = [
    "BUILD_LOG",
    "USER_WARNINGS_LOG",
    "LogUploadError",
    "TaskLogs",
    "safe_work_path",
    "stream_build_logs",
]

logger = logging.getLogger(f"{LOGGER_NAME}.logs")

#: Lines write() queues before it hands them over as one batch.
_ROTATE_LINES = 4096
#: Bytes write() queues before it hands them over (and waits for the uploader
#: when it is behind): long lines must not pile up in the inbox unaccounted.
_ROTATE_BYTES = 1024 * 1024
#: Lines drain() takes per step. Small enough that the line tuples die before
#: the garbage collector's first generation fills (700 objects by default):
#: keeping thousands alive made every step pay for collections.
_DRAIN_LINES = 512
#: Bytes of lines drain() aims to take per step: when lines are long it takes
#: fewer of them in the next step, so a log of many long lines is never held
#: hundreds of lines at a time.
_STEP_BYTES = 4 * 1024 * 1024

_key_of = operator.itemgetter(0)
_line_of = operator.itemgetter(1)


class TaskLogs:
    """Log files of one task, written locally and uploaded while the build runs.

    Two ways in, both from one reader thread: :meth:`write` appends one line
    to an inbox that the uploader thread turns into file bytes at its next
    flush; :meth:`drain` lets a backend's line iterator fill the inbox from C
    (``list.extend``) and encodes and routes each step's lines itself, with a
    few C-level joins per step. The uploader thread writes the local files
    and uploads the new bytes; it also picks up lines that wait in the inbox
    while the iterator blocks, so a slow log still arrives within
    ``flush_interval``.
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
        os.makedirs(local_dir, exist_ok=True)
        self._uploader = LiveUploader(
            session, upload_path, flush_interval, retries=upload_retries, retry_delay=retry_delay
        )
        self._lock = self._uploader.lock
        self._closed = False
        self._files = LogFiles(self._uploader, local_dir, work_dir)
        #: routers by the platform_of function of their keys (write(): platforms)
        self._direct = self._files.router(None)
        self._routers: dict[Any, Router] = {}
        #: lines appended by the reader without a lock; the uploader takes
        #: items[_taken:] under the lock, the reader replaces full lists
        self._inbox: list[tuple[Any, str | bytes]] = []
        self._inbox_router = self._direct
        self._taken = 0
        #: bytes write() appended since the uploader last took or was handed lines
        self._queued_bytes = 0
        self._rotated: list[tuple[Router, list[tuple[Any, str | bytes]]]] = []
        #: True when the uploader took everything: the next line must wake it
        self._idle = True
        self._uploader.prepare = self._write_queued
        self._uploader.peek = lambda: len(self._inbox) > self._taken
        self._uploader.start()

    # -- the reader side -------------------------------------------------------
    def write(self, platform: str | None, line: str | bytes) -> None:
        """Queue one line (without newline) for the build log and its platform's log."""
        if self._inbox_router is not self._direct:
            with self._lock:
                self._switch(self._direct)
        inbox = self._inbox
        inbox.append((platform, line))
        self._queued_bytes += len(line)
        # _idle is set by the uploader before it measures the inbox, so a
        # line appended after that measurement always sees it True here
        if (
            self._idle
            or len(inbox) >= _ROTATE_LINES
            or self._queued_bytes >= _ROTATE_BYTES
            or self._closed
        ):
            self._kick()

    def drain(
        self,
        items: Iterator[tuple[Any, str | bytes]],
        platform_of: Callable[[Any], str | None],
        counts: Counter,
        cancelled: threading.Event | None = None,
        marks_of: Callable[[Any], Marks] | None = None,
    ) -> BaseException | None:
        """Write ``(key, line)`` items until ``items`` ends; return what ended it.

        ``platform_of(key)`` names the platform of a key and ``marks_of(key)``
        the build-system markers its lines may carry (none without it); each
        is called once per key. ``counts[key]`` grows by the lines taken,
        also when ``items`` raises: the exception is returned (None when it
        simply ended, or when ``cancelled`` got set) with every line before
        it written.
        """
        router = self._routers.get((platform_of, marks_of))
        if router is None:
            router = self._routers[(platform_of, marks_of)] = self._files.router(
                platform_of, marks_of
            )
        with self._lock:
            if self._closed:
                raise ValueError("TaskLogs is closed")
            self._switch(router)
            self._uploader.feeding = True
            self._uploader.cond.notify_all()
        step = _DRAIN_LINES
        try:
            while True:
                inbox = self._inbox  # a fresh list: _switch and _write_step replace it
                since = time.monotonic()
                error = None
                try:
                    inbox.extend(islice(items, step))
                except Exception as exc:
                    error = exc
                taken = len(inbox)
                if taken:
                    keys = list(map(_key_of, inbox))
                    for key in set(keys):
                        counts[key] += keys.count(key)
                    lines = list(map(_line_of, inbox))
                    size = sum(map(len, lines))
                    self._write_step(router, keys, lines, since)
                    del lines
                del inbox
                if error is not None or taken < step:
                    return error
                step = _next_step(step, size)
                if cancelled is not None and cancelled.is_set():
                    return None
        finally:
            with self._lock:
                self._uploader.feeding = False

    def _write_step(self, router: Router, keys: list, lines: list, since: float) -> None:
        """Write the lines drain() just took (the uploader may have written the first ones)."""
        with self._uploader.flush_lock:
            with self._lock:
                earlier = self._take_rotated()
                taken = self._taken
                self._inbox = []
                self._taken = 0
                self._idle = False
            self._write_batches(earlier)
            if taken:
                del keys[:taken], lines[:taken]
            nbytes = self._files.write_lines(router, keys, lines) if keys else 0
        with self._lock:
            # the first of these lines may have waited since the step began
            self._uploader.wrote(nbytes, since)

    def _switch(self, router: Router) -> None:
        """Start a new inbox list for keys of ``router``; the caller holds the lock."""
        if self._inbox_router is router:
            return
        if len(self._inbox) > self._taken:
            self._rotate()
        self._inbox = []
        self._taken = 0
        self._inbox_router = router

    def _rotate(self) -> None:
        """Hand the untaken part of the inbox over as a batch; the caller holds the lock."""
        batch = self._inbox[self._taken :]
        self._rotated.append((self._inbox_router, batch))
        self._inbox = []
        self._taken = 0
        self._queued_bytes = 0
        self._idle = False
        self._uploader.wrote(sum(map(len, map(_line_of, batch))) + len(batch))

    def _kick(self) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("TaskLogs is closed")
            if len(self._inbox) >= _ROTATE_LINES or self._queued_bytes >= _ROTATE_BYTES:
                self._rotate()
            elif self._idle:
                self._idle = False
                self._uploader.wrote(1)

    def close(self, budget: float | None = None) -> None:
        """Upload what is left (within ``budget`` seconds if given).

        Raises LogUploadError if any part could not be uploaded.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._uploader.close(budget)

    @property
    def user_warnings(self) -> list[str]:
        """De-duplicated USER_WARNING messages, in the order they appeared."""
        return self._files.user_warnings

    @property
    def metadata_file(self) -> str | None:
        """Validated path named by a ``platform:_metadata_`` line."""
        return self._files.metadata_file

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

    # -- turning lines into file bytes (either thread, under flush_lock) -------
    def _write_queued(self) -> None:
        """Write every line still queued, in order; the uploader calls it before a flush."""
        with self._uploader.flush_lock:
            with self._lock:
                batches = self._take_rotated()
                self._idle = True
                end = len(self._inbox)
                if end > self._taken:
                    batches.append((self._inbox_router, self._inbox[self._taken : end]))
                    self._taken = end
                self._queued_bytes = 0
            self._write_batches(batches)

    def _take_rotated(self) -> list[tuple[Router, list[tuple[Any, str | bytes]]]]:
        batches = self._rotated
        self._rotated = []
        return batches

    def _write_batches(self, batches: list[tuple[Router, list[tuple[Any, str | bytes]]]]) -> None:
        for router, items in batches:
            if items:
                self._files.write_lines(
                    router, list(map(_key_of, items)), list(map(_line_of, items))
                )


def _next_step(step: int, size: int) -> int:
    """Lines to take next after a step of ``step`` lines and ``size`` bytes."""
    if size > _STEP_BYTES:
        return max(1, step * _STEP_BYTES // size)
    return min(_DRAIN_LINES, step * 2)


def stream_build_logs(
    backend: Any,
    handle: str,
    task_logs: TaskLogs,
    cancelled: threading.Event | None = None,
) -> None:
    """Follow the build's logs into ``task_logs`` until the logs end.

    A backend whose ``log_feed(handle)`` gives a feed (the OSBS one) hands
    over whole line iterators that :meth:`TaskLogs.drain` consumes from C;
    any other backend is read line by line through ``backend.logs(handle)``. Stops early when
    ``cancelled`` is set. When the backend reports that the stream broke for
    good, a note goes into the build log (so nobody mistakes the cut log for
    a whole one) and the BackendError propagates.
    """
    try:
        log_feed = getattr(backend, "log_feed", None)
        feed = log_feed(handle) if log_feed is not None else None
        if feed is not None:
            _follow_feed(feed, task_logs, cancelled)
        else:
            _follow_lines(backend.logs(handle), task_logs, cancelled)
    except BackendError as exc:
        task_logs.write(None, f"koji-containerbuild: the build log is incomplete: {exc}")
        raise


def _follow_lines(lines: Any, task_logs: TaskLogs, cancelled: threading.Event | None) -> None:
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
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()


def _follow_feed(feed: Any, task_logs: TaskLogs, cancelled: threading.Event | None) -> None:
    """Drive a backend's log feed (the one driver of backends.base.LogFeed).

    ``feed.streams()`` is a generator of ``(key, line)`` iterators: each one
    is drained and the exception that ended it (None if it just ended) is
    sent back, so the backend decides whether to resume, fall back or give
    up. ``feed.delivered`` counts the lines taken per key,
    ``feed.platform_of`` maps a key to its platform and ``feed.marks_of``
    (optional) to the markers its lines may carry.
    """
    marks_of = getattr(feed, "marks_of", None)
    streams = feed.streams()
    error: BaseException | None = None
    try:
        while True:
            try:
                source = streams.send(error)
            except StopIteration:
                return
            error = task_logs.drain(
                source, feed.platform_of, feed.delivered, cancelled, marks_of=marks_of
            )
            if cancelled is not None and cancelled.is_set():
                return
    finally:
        streams.close()
