"""TaskLogs and stream_build_logs (logs/stream.py): order, live uploads, drains, failures."""

from __future__ import annotations

import os
import threading
from collections import Counter

import pytest

from koji_containerbuild.backends.base import BackendError
from koji_containerbuild.backends.osbs.logs import platform_of as osbs_platform_of
from koji_containerbuild.logs.stream import LogUploadError, stream_build_logs
from tests.logs_harness import make_logs


class ListBackend:
    """A backend whose logs() yields a fixed list, then optionally raises."""

    def __init__(self, lines, error: BaseException | None = None):
        self.lines = lines
        self.error = error

    def logs(self, handle):
        yield from self.lines
        if self.error is not None:
            raise self.error


def test_all_lines_arrive_in_order_and_each_byte_is_uploaded_once(hub, tmp_path, work_dir):
    lines = [(("x86_64", "s390x")[n % 2], f"line {n} " + "x" * (n % 300)) for n in range(20000)]
    logs = make_logs(hub, tmp_path, work_dir)
    stream_build_logs(ListBackend(lines), "build-1", logs)
    logs.close()
    expected = "".join(f"{line}\n" for _, line in lines).encode()
    assert hub.uploaded("osbs-build.log") == expected
    for name in ("osbs-build.log", "x86_64.log", "s390x.log"):
        offsets = hub.offsets(name)
        position = 0
        for offset, size in offsets:
            assert offset == position
            position += size
        assert position == os.path.getsize(os.path.join(tmp_path, "local", name))
    assert logs.bytes_uploaded == sum(size for *_, size in hub.uploads())


def test_lines_are_uploaded_while_the_build_runs(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir, flush_interval=0.05)
    logs.write("x86_64", "early line")
    deadline = threading.Event()
    for _ in range(200):
        if logs.upload_calls:
            break
        deadline.wait(0.01)
    assert hub.uploaded("osbs-build.log") == b"early line\n"
    logs.write("x86_64", "late line")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"early line\nlate line\n"
    assert hub.offsets("osbs-build.log") == [(0, 11), (11, 10)]


def test_line_that_is_not_utf8_is_kept_as_bytes_and_the_rest_follows(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    stream_build_logs(
        ListBackend(
            [("x86_64", "before"), ("x86_64", b"bad \xff\xfe bytes"), ("x86_64", "after")]
        ),
        "build-1",
        logs,
    )
    logs.close()
    assert hub.uploaded("x86_64.log") == b"before\nbad \xff\xfe bytes\nafter\n"


def test_ten_megabyte_line_is_written_whole(hub, tmp_path, work_dir):
    big = "y" * (10 * 1024 * 1024)
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write("x86_64", big)
    logs.write("x86_64", "next")
    logs.close()
    data = hub.uploaded("x86_64.log")
    assert len(data) == len(big) + 1 + 5
    assert data.endswith(b"y\nnext\n")
    assert max(size for *_, size in hub.uploads()) <= 1024 * 1024


def test_transient_upload_failure_is_retried_without_loss(hub, tmp_path, work_dir):
    hub.fail_next = 2
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write("x86_64", "survives")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"survives\n"
    assert logs.upload_errors == []


def test_upload_that_keeps_failing_is_not_silent(hub, tmp_path, work_dir):
    hub.refuse_all = True
    logs = make_logs(hub, tmp_path, work_dir, upload_retries=2)
    logs.write("x86_64", "lost?")
    with pytest.raises(LogUploadError, match=r"osbs-build\.log"):
        logs.close()
    assert logs.upload_errors


def test_broken_stream_is_noted_in_the_log_and_raised(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    backend = ListBackend([(None, "one")], BackendError("The log stream of build-1 broke."))
    with pytest.raises(BackendError):
        stream_build_logs(backend, "build-1", logs)
    logs.close()
    uploaded = hub.uploaded("osbs-build.log")
    assert uploaded.startswith(b"one\n")
    assert b"incomplete" in uploaded


def test_cancelled_stream_stops_reading(hub, tmp_path, work_dir):
    cancelled = threading.Event()
    seen = []

    class Backend:
        def logs(self, handle):
            for n in range(100):
                seen.append(n)
                if n == 3:
                    cancelled.set()
                yield None, f"line {n}"

    logs = make_logs(hub, tmp_path, work_dir)
    stream_build_logs(Backend(), "build-1", logs, cancelled=cancelled)
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"line 0\nline 1\nline 2\n"
    assert len(seen) == 4


def test_drain_returns_what_ended_the_lines_and_keeps_those_before(hub, tmp_path, work_dir):
    def lines():
        for n in range(1500):
            yield ("task-a" if n % 3 else "task-b"), f"line {n}"
        raise ConnectionError("stream dropped")

    logs = make_logs(hub, tmp_path, work_dir)
    counts: Counter = Counter()
    error = logs.drain(lines(), {"task-a": "x86_64", "task-b": None}.get, counts)
    logs.close()
    assert isinstance(error, ConnectionError)
    assert counts == {"task-a": 1000, "task-b": 500}
    expected = [f"line {n}" for n in range(1500)]
    assert hub.uploaded("osbs-build.log") == "".join(f"{x}\n" for x in expected).encode()
    assert (
        hub.uploaded("x86_64.log") == "".join(f"line {n}\n" for n in range(1500) if n % 3).encode()
    )


def test_drain_uploads_lines_of_a_slow_stream_while_it_blocks(hub, tmp_path, work_dir):
    release = threading.Event()

    def lines():
        yield "task", "first"
        release.wait(5)  # the stream is quiet; the first line must not wait for it
        yield "task", "second"

    logs = make_logs(hub, tmp_path, work_dir, flush_interval=0.02)
    reader = threading.Thread(target=logs.drain, args=(lines(), lambda key: None, Counter()))
    reader.start()
    for _ in range(300):
        if logs.upload_calls:
            break
        threading.Event().wait(0.01)
    uploaded_while_blocked = hub.uploaded("osbs-build.log")
    release.set()
    reader.join()
    logs.close()
    assert uploaded_while_blocked == b"first\n"
    assert hub.uploaded("osbs-build.log") == b"first\nsecond\n"


def test_drain_mixes_with_single_lines_in_order(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write(None, "note before")
    logs.drain(iter([("t", "fed 1"), ("t", b"fed \xff")]), lambda key: "x86_64", Counter())
    logs.write("x86_64", "note after")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"note before\nfed 1\nfed \xff\nnote after\n"
    assert hub.uploaded("x86_64.log") == b"fed 1\nfed \xff\nnote after\n"


def test_long_lines_written_one_by_one_are_handed_over_by_size(hub, tmp_path, work_dir):
    # a slow flush interval: only the queued size can make the writer hand lines over
    logs = make_logs(hub, tmp_path, work_dir, flush_interval=60.0)
    line = "L" * (600 * 1024)
    queued = []
    for _ in range(6):
        logs.write("x86_64", line)
        queued.append(sum(len(item[1]) for item in logs._inbox[logs._taken :]))
    logs.close()
    assert max(queued) < 2 * len(line)
    assert hub.uploaded("x86_64.log") == (line + "\n").encode() * 6


def test_drain_takes_fewer_long_lines_per_step(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    line = "L" * (64 * 1024)
    build_log = logs._files.build_log
    ahead = []  # lines taken from the iterator but not yet written, after the first step

    def lines():
        # the first step's 512 lines, then a few steps that settle the size
        for number in range(1024):
            if number >= 512:
                ahead.append(number - build_log.written // (len(line) + 1))
            yield ("binary-container-build-x86-64", line)

    logs.drain(lines(), osbs_platform_of, Counter())
    logs.close()
    # at most two steps' worth of bytes (it settles between one and two), not 512 lines
    assert max(ahead) < 2 * (4 * 1024 * 1024) // len(line)
    assert hub.uploaded("x86_64.log") == (line + "\n").encode() * 1024
