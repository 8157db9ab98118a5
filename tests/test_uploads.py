"""uploads: how queued log bytes are cut into upload calls, and which failures are retried."""

from __future__ import annotations

import signal
import sys
import threading
import time
import xmlrpc.client

import koji
import pytest

from koji_containerbuild.logs.switchinterval import UPLOAD_SWITCH_INTERVAL
from koji_containerbuild.logs.uploads import LiveUploader, LogUploadError, chunks, is_transient
from tests.conftest import open_task

LIMIT = 1000


def test_small_parts_are_joined_up_to_the_limit():
    parts = [bytes([65 + n]) * 100 for n in range(25)]
    sent = list(chunks(parts, LIMIT))
    assert b"".join(sent) == b"".join(parts)
    assert [len(chunk) for chunk in sent] == [1000, 1000, 500]


def test_a_part_of_a_quarter_of_the_limit_goes_alone_without_a_copy():
    big = b"x" * 600
    parts = [b"a" * 10, big, b"b" * 10]
    sent = list(chunks(parts, LIMIT))
    assert sent == [b"a" * 10, big, b"b" * 10]
    assert sent[1] is big


def test_a_part_longer_than_the_limit_is_cut_in_order():
    line = bytes(range(256)) * 10  # 2560 bytes
    sent = list(chunks([b"head", line, b"tail"], LIMIT))
    assert b"".join(sent) == b"head" + line + b"tail"
    assert max(len(chunk) for chunk in sent) <= LIMIT
    assert sent[1:4] == [line[:1000], line[1000:2000], line[2000:]]


# -- LiveUploader's retry policy, against the sandbox hub (it refuses as kojihub does)


class FlakyHub:
    """The builder's in-process session; ``failures`` upload calls raise first."""

    def __init__(self, session, failures=()):
        self.session = session
        self.opts = session.opts
        self.failures = list(failures)
        self.answers: list[str] = []
        self.hang: threading.Event | None = None

    def rawUpload(self, *args, **kwargs):
        if self.hang is not None:
            self.hang.wait(10)
        if self.failures:
            error = self.failures.pop(0)
            self.answers.append(type(error).__name__)
            raise error
        try:
            result = self.session.rawUpload(*args, **kwargs)
        except koji.GenericError as error:
            self.answers.append(type(error).__name__)
            raise
        self.answers.append("ok")
        return result


@pytest.fixture
def task_id(sandbox_hub):
    return open_task(sandbox_hub)


def uploader_for(
    sandbox_hub, task_id, tmp_path, hub, names=("build.log",), flush_interval=0.01, **kwargs
):
    pauses: list[float] = []
    uploader = LiveUploader(
        hub, koji.pathinfo.taskrelpath(task_id), flush_interval, sleep=pauses.append, **kwargs
    )
    for name in names:
        uploaded = uploader.add(str(tmp_path / name), name)
        with uploader.flush_lock:
            uploaded.append([b"a line\n"], 7)
    with uploader.lock:
        uploader.wrote(7 * len(names))
    return uploader, pauses


@pytest.mark.parametrize(
    "error, transient",
    [
        (ConnectionRefusedError("hub down"), True),
        (OSError("connection reset"), True),
        (koji.RetryError("call 5 already completed"), True),
        (koji.ServerOffline("server startup error"), True),
        (koji.LockError("file locked"), True),
        (koji.SequenceError("6 > 5 (session 1)"), True),
        (koji.ActionNotAllowed("host 1 does not own task 2"), False),
        (koji.AuthExpired("session expired"), False),
        (koji.GenericError("Invalid upload offset"), False),
        (xmlrpc.client.Fault(1, "<class 'ValueError'>: bad"), False),
    ],
)
def test_only_transient_upload_errors_are_worth_another_try(error, transient):
    assert is_transient(error) is transient


def test_connection_error_is_retried_with_doubling_pauses(sandbox_hub, task_id, tmp_path):
    hub = FlakyHub(sandbox_hub.session("builder"), [OSError("reset"), OSError("reset")])
    uploader, pauses = uploader_for(sandbox_hub, task_id, tmp_path, hub, retry_delay=0.5)
    uploader.start()
    uploader.close()
    assert hub.answers == ["OSError", "OSError", "ok"]
    assert pauses == [0.5, 1.0]
    assert hub.session.downloadTaskOutput(task_id, "build.log") == b"a line\n"


def test_cancelled_task_upload_is_refused_once_and_nothing_else_is_sent(
    sandbox_hub, task_id, tmp_path
):
    hub = FlakyHub(sandbox_hub.session("builder"))
    uploader, pauses = uploader_for(
        sandbox_hub, task_id, tmp_path, hub, names=("build.log", "x86_64.log")
    )
    sandbox_hub.session("admin").cancelTask(task_id)
    uploader.start()
    with pytest.raises(LogUploadError, match="does not own task") as failure:
        uploader.close()
    assert hub.answers == ["ActionNotAllowed"]
    assert pauses == []
    assert "build.log" in str(failure.value)
    assert "x86_64.log" in str(failure.value)


def test_no_retry_starts_when_its_pause_would_pass_the_budget(sandbox_hub, task_id, tmp_path):
    hub = FlakyHub(sandbox_hub.session("builder"), [OSError("reset")])
    # the flush interval never elapses: the first try is the final flush, under the budget
    uploader, pauses = uploader_for(
        sandbox_hub, task_id, tmp_path, hub, flush_interval=3600.0, retry_delay=60.0
    )
    uploader.start()
    with pytest.raises(LogUploadError, match=r"build\.log"):
        uploader.close(budget=5.0)
    assert hub.answers == ["OSError"]
    assert pauses == []


def test_close_with_a_budget_returns_while_an_upload_still_hangs(sandbox_hub, task_id, tmp_path):
    hub = FlakyHub(sandbox_hub.session("builder"))
    hub.hang = threading.Event()
    uploader, _ = uploader_for(sandbox_hub, task_id, tmp_path, hub)
    uploader.start()
    try:
        with pytest.raises(LogUploadError, match=r"did not end within 0\.2 s"):
            uploader.close(budget=0.2)
        assert hub.answers == []
    finally:
        hub.hang.set()


# -- LiveUploader's chunks during a burst


class GatedHub(FlakyHub):
    """Notes each chunk's size; with ``hang`` the calls wait until it is set."""

    def __init__(self, session):
        super().__init__(session)
        self.reached = threading.Event()
        self.sizes: list[int] = []

    def rawUpload(self, chunk, *args, **kwargs):
        self.sizes.append(len(chunk))
        self.reached.set()
        return super().rawUpload(chunk, *args, **kwargs)


def test_a_burst_holds_back_a_file_s_short_last_chunk_for_the_next_call(
    sandbox_hub, task_id, tmp_path
):
    hub = GatedHub(sandbox_hub.session("builder"))
    hub.hang = threading.Event()
    # the flush interval never elapses here: only bursts and close() flush
    uploader = LiveUploader(hub, koji.pathinfo.taskrelpath(task_id), 3600.0)
    uploaded = uploader.add(str(tmp_path / "build.log"), "build.log")
    line = b"x" * 1023 + b"\n"

    def write(kib: int) -> None:
        with uploader.flush_lock:
            uploaded.append([line] * kib, kib * 1024)
        with uploader.lock:
            uploader.wrote(kib * 1024)

    uploader.start()
    write(1536)  # a burst: the first MiB goes, and its call waits in the hub
    assert hub.reached.wait(30)
    write(512)  # arrives while that call is in flight
    hub.hang.set()
    uploader.close()
    mib = 1024 * 1024
    assert hub.sizes == [mib, mib]
    assert (tmp_path / "build.log").read_bytes() == line * 2048
    assert sandbox_hub.session("builder").downloadTaskOutput(task_id, "build.log") == line * 2048


def test_a_few_lines_of_one_file_are_not_held_back_for_as_long_as_another_bursts(
    sandbox_hub, task_id, tmp_path
):
    hub = GatedHub(sandbox_hub.session("builder"))
    uploader = LiveUploader(hub, koji.pathinfo.taskrelpath(task_id), 0.2)
    busy = uploader.add(str(tmp_path / "x86_64.log"), "x86_64.log")
    quiet = uploader.add(str(tmp_path / "aarch64.log"), "aarch64.log")
    line = b"x" * 1023 + b"\n"
    uploader.start()
    with uploader.flush_lock:
        quiet.append([b"a quiet line\n"], 13)
    with uploader.lock:
        uploader.wrote(13)
    deadline = time.monotonic() + 30
    while quiet.uploaded == 0 and time.monotonic() < deadline:
        with uploader.flush_lock:
            busy.append([line] * 1100, 1100 * 1024)  # over a burst's worth each time
        with uploader.lock:
            uploader.wrote(1100 * 1024)
    burst_still_on = quiet.uploaded
    uploader.close()
    assert burst_still_on == 13


def test_the_gil_switch_interval_is_short_while_the_uploader_runs(sandbox_hub, task_id, tmp_path):
    saved = sys.getswitchinterval()
    uploader, _ = uploader_for(sandbox_hub, task_id, tmp_path, sandbox_hub.session("builder"))
    uploader.start()
    running = sys.getswitchinterval()
    uploader.close()
    assert (running, sys.getswitchinterval()) == (UPLOAD_SWITCH_INTERVAL, saved)


def blocked_signals(thread: threading.Thread) -> int:
    """The SigBlk mask the kernel shows for ``thread``."""
    with open(f"/proc/self/task/{thread.native_id}/status", encoding="ascii") as handle:
        [mask] = [line.split()[1] for line in handle if line.startswith("SigBlk:")]
    return int(mask, 16)


def test_upload_thread_leaves_kojids_signals_to_the_main_thread(sandbox_hub, task_id):
    uploader = LiveUploader(
        sandbox_hub.session("builder"), koji.pathinfo.taskrelpath(task_id), 0.2
    )
    uploader.start()
    try:
        deadline = time.monotonic() + 30
        wanted = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
        while blocked_signals(uploader._thread) & wanted != wanted:
            assert time.monotonic() < deadline, (
                "the upload thread never blocked SIGINT and SIGTERM"
            )
            time.sleep(0.01)
    finally:
        uploader.close()
