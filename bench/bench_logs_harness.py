"""What every figure of bench/bench_logs.py drives: one task's log streaming and its report.

Not a benchmark of its own: :func:`run_build` streams one scripted OSBS build's
logs as the builder does (``stream_build_logs`` into ``TaskLogs`` and a hub
session), :class:`Timed` notes when each line left the backend, and
:class:`Figures` prints each figure next to its limit. Apart from the scripts
so that the OSBS parts (bench_logs.py, bench_logs_burst.py) and the local
backend's part (bench_logs_local.py) share them without importing each other.
"""

from __future__ import annotations

import os
import time

from koji_containerbuild.config import BuilderConfig
from koji_containerbuild.logs.stream import TaskLogs, stream_build_logs
from koji_containerbuild.sandbox.osbs.harness import binary_request

FLUSH_INTERVAL = BuilderConfig.log_flush_interval  # the builder config default


class Figures:
    def __init__(self) -> None:
        self.missed: list[str] = []

    def report(self, label: str, value: float, limit: float, unit: str, higher: bool) -> None:
        ok = value >= limit if higher else value <= limit
        sign = ">=" if higher else "<="
        status = "ok" if ok else "MISSED"
        print(f"  {label:<44} {value:>12.3f} {unit:<8} limit {sign} {limit:g} {unit}  {status}")
        if not ok:
            self.missed.append(label)


class Timed:
    """Wraps the backend's log feed (the path the builder uses) to note when each
    line left the backend; ``seen(line)`` may react to particular lines."""

    def __init__(self, backend):
        self.backend = backend
        self.times: list[float] = []

    def seen(self, line) -> None:
        pass

    def _stamp(self, item):
        self.times.append(time.monotonic())
        self.seen(item[1])
        return item

    def log_feed(self, handle):
        return _TimedFeed(self.backend.log_feed(handle), self._stamp)


class _TimedFeed:
    def __init__(self, inner, stamp):
        self.inner = inner
        self.stamp = stamp
        self.delivered = inner.delivered
        self.platform_of = inner.platform_of

    def streams(self):
        inner = self.inner.streams()
        error = None
        try:
            while True:
                try:
                    source = inner.send(error)
                except StopIteration:
                    return
                error = yield map(self.stamp, source)
        finally:
            inner.close()


def run_build(cluster, backend, hub, script, task_id, local_dir, timed=None):
    """One task's log streaming, as the builder does it; local files go to local_dir."""
    cluster.script(script)
    handle = backend.start(binary_request(task_id=task_id, component="bench"))
    upload_path = hub.open_task()
    local_dir = os.path.join(local_dir, str(task_id))
    logs = TaskLogs(
        hub.session, upload_path, local_dir, hub.work_dir, flush_interval=FLUSH_INTERVAL
    )
    source = timed or backend
    start = time.perf_counter()
    stream_build_logs(source, handle, logs)
    streamed = time.monotonic()
    logs.close()
    closed = time.monotonic()
    elapsed = time.perf_counter() - start
    size = os.path.getsize(os.path.join(local_dir, "osbs-build.log"))
    return logs, elapsed, size, upload_path, streamed, closed
