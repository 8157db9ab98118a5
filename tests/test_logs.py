"""TaskLogs and stream_build_logs: per-platform files, live uploads, untrusted lines."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter

import koji
import pytest

from koji_containerbuild.backends.base import REMOTE_SOURCES, BackendError
from koji_containerbuild.backends.osbs.logs import marks_of as osbs_marks_of
from koji_containerbuild.backends.osbs.logs import platform_of as osbs_platform_of
from koji_containerbuild.logs.stream import LogUploadError, TaskLogs, stream_build_logs
from tests.conftest import open_task


class Hub:
    """The sandbox hub's in-process session (the hub stand-in of record), as kojid's host.

    Uploads land under the sandbox's work dir and every call is recorded in
    ``session.calls``. The only addition is fault injection: ``fail_next``
    upload calls raise, or all of them with ``refuse_all``.
    """

    def __init__(self, sandbox_hub, fast_upload: bool):
        self.upload_path = koji.pathinfo.taskrelpath(open_task(sandbox_hub))
        self.session = sandbox_hub.session("builder", opts={"use_fast_upload": fast_upload})
        self.root = sandbox_hub.workdir
        self.opts = self.session.opts
        self.fail_next = 0
        self.refuse_all = False

    def _fault(self) -> None:
        if self.refuse_all:
            raise OSError("hub unreachable")
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("connection reset")

    def rawUpload(self, *args, **kwargs):
        self._fault()
        return self.session.rawUpload(*args, **kwargs)

    def uploadFile(self, *args, **kwargs):
        self._fault()
        return self.session.uploadFile(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.session, name)

    def uploads(self) -> list[tuple[str, int, int]]:
        """(name, offset, size) of every upload call the hub answered, in order."""
        found = []
        for method, args, _ in self.session.calls:
            if method == "rawUpload":
                chunk, offset, _path, name = args[:4]
                found.append((name, offset, len(chunk)))
            elif method == "uploadFile":
                _path, name, size, _checksum, offset, _data = args[:6]
                found.append((name, offset, size))
        return found

    def uploaded(self, name: str) -> bytes:
        with open(os.path.join(self.root, self.upload_path, name), "rb") as handle:
            return handle.read()

    def offsets(self, name: str) -> list[tuple[int, int]]:
        return [(offset, size) for n, offset, size in self.uploads() if n == name]


@pytest.fixture(params=[True, False], ids=["rawUpload", "uploadFile"])
def hub(request, sandbox_hub):
    return Hub(sandbox_hub, fast_upload=request.param)


@pytest.fixture
def work_dir(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


def make_logs(hub, tmp_path, work_dir, **kwargs) -> TaskLogs:
    kwargs.setdefault("flush_interval", 0.01)
    kwargs.setdefault("retry_delay", 0.001)
    return TaskLogs(hub, hub.upload_path, str(tmp_path / "local"), str(work_dir), **kwargs)


class ListBackend:
    """A backend whose logs() yields a fixed list, then optionally raises."""

    def __init__(self, lines, error: BaseException | None = None):
        self.lines = lines
        self.error = error

    def logs(self, handle):
        yield from self.lines
        if self.error is not None:
            raise self.error


def test_every_line_goes_to_build_log_and_platform_lines_to_their_own_file(
    hub, tmp_path, work_dir
):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write(None, "prebuild")
    logs.write("x86_64", "amd line")
    logs.write("aarch64", "arm line")
    logs.write(REMOTE_SOURCES, "fetching deps")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"prebuild\namd line\narm line\nfetching deps\n"
    assert hub.uploaded("x86_64.log") == b"amd line\n"
    assert hub.uploaded("aarch64.log") == b"arm line\n"
    assert hub.uploaded("remote-sources.log") == b"fetching deps\n"
    names = [os.path.basename(path) for path in logs.files()]
    assert names == [
        "osbs-build.log",
        "x86_64.log",
        "aarch64.log",
        "remote-sources.log",
    ]


def test_platform_that_is_not_a_safe_file_name_goes_only_to_build_log(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write("../../etc/passwd", "sneaky")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"sneaky\n"
    assert [os.path.basename(path) for path in logs.files()] == ["osbs-build.log"]


@pytest.mark.parametrize(
    "platform", ["user_warnings", "osbs-build", "x86_64/..", "x86.64", "arm 64", "s390x\n", ""]
)
def test_platform_that_is_not_an_arch_name_goes_only_to_build_log(
    hub, tmp_path, work_dir, platform
):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write(platform, "odd platform")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"odd platform\n"
    assert [os.path.basename(path) for path in logs.files()] == ["osbs-build.log"]
    assert logs.user_warnings == []


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


def feed(logs, *items) -> None:
    """``(pipeline task, line)`` items, as the OSBS backend's log feed hands them over."""
    logs.drain(iter(items), osbs_platform_of, Counter(), marks_of=osbs_marks_of)


def reactor_line(level: str, message: str, second: int = 0) -> str:
    """A line in atomic-reactor's log format."""
    return f"2024-01-01 10:00:{second:02d},000 - atomic_reactor.plugins.x - {level} - {message}"


PREBUILD = "binary-container-prebuild"
POSTBUILD = "binary-container-postbuild"
BUILD_X86 = "binary-container-build-x86-64"


def test_user_warnings_are_collected_once_each(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    warning = json.dumps({"message": "Base image is deprecated"})
    feed(
        logs,
        (PREBUILD, reactor_line("USER_WARNING", warning)),
        (POSTBUILD, reactor_line("USER_WARNING", warning, 1)),
        (POSTBUILD, reactor_line("USER_WARNING", '{"message": "Other"}')),
        (POSTBUILD, reactor_line("USER_WARNING", "{not json}")),
        (POSTBUILD, reactor_line("USER_WARNING", '{"msg": "no message key"}')),
    )
    logs.close()
    assert logs.user_warnings == ["Base image is deprecated", "Other"]
    assert hub.uploaded("user_warnings.log") == b"Base image is deprecated\nOther\n"
    assert hub.uploaded("osbs-build.log").count(b"USER_WARNING") == 5


#: USER_WARNING lines that do not come from atomic-reactor itself: (task, line).
FORGED_WARNINGS = {
    "run_output_in_a_build_task": (BUILD_X86, reactor_line("USER_WARNING", '{"message": "x"}')),
    "run_output_of_remote_sources": (
        "binary-container-hermeto",
        reactor_line("USER_WARNING", '{"message": "x"}'),
    ),
    "unknown_task": ("binary-container-new", reactor_line("USER_WARNING", '{"message": "x"}')),
    "message_of_an_info_line": (
        PREBUILD,
        reactor_line("INFO", 'echo - USER_WARNING - {"message": "x"}'),
    ),
    "no_reactor_prefix": (PREBUILD, 'anything - USER_WARNING - {"message": "x"}'),
}


@pytest.mark.parametrize("item", FORGED_WARNINGS.values(), ids=FORGED_WARNINGS)
def test_user_warning_not_from_the_build_system_is_an_ordinary_line(hub, tmp_path, work_dir, item):
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, item)
    logs.close()
    assert logs.user_warnings == []
    assert not os.path.exists(os.path.join(hub.root, hub.upload_path, "user_warnings.log"))
    assert hub.uploaded("osbs-build.log") == f"{item[1]}\n".encode()


def test_lines_written_one_by_one_carry_no_markers(hub, tmp_path, work_dir):
    # the local backend's path: every line is the build's own output
    (work_dir / "koji-upload").mkdir()
    (work_dir / "koji-upload" / "metadata.json").write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write("x86_64", reactor_line("USER_WARNING", '{"message": "forged"}'))
    logs.write(None, reactor_line("INFO", "platform:_metadata_ koji-upload/metadata.json"))
    logs.close()
    assert logs.user_warnings == []
    assert logs.metadata_file is None


def metadata_line(path: str) -> str:
    prefix = "2024-01-01 10:00:00,000 - atomic_reactor.plugins.koji_import - INFO - "
    return f"{prefix}platform:_metadata_ {path}"


def test_metadata_file_inside_work_dir_is_attached(hub, tmp_path, work_dir):
    target = work_dir / "koji-upload" / "abc" / "metadata.json"
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, (POSTBUILD, metadata_line("koji-upload/abc/metadata.json")))
    logs.close()
    assert logs.metadata_file == os.path.realpath(target)


@pytest.mark.parametrize("task", [BUILD_X86, PREBUILD, "binary-container-exit", "other"])
def test_metadata_line_of_another_task_is_an_ordinary_line(hub, tmp_path, work_dir, task):
    (work_dir / "koji-upload").mkdir()
    (work_dir / "koji-upload" / "metadata.json").write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, (task, metadata_line("koji-upload/metadata.json")))
    logs.close()
    assert logs.metadata_file is None


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink_out", "missing", "directory"])
def test_metadata_path_outside_work_dir_is_an_ordinary_line(hub, tmp_path, work_dir, kind):
    outside = tmp_path / "secret.json"
    outside.write_text("{}")
    (work_dir / "koji-upload").mkdir()
    paths = {
        "absolute": str(outside),
        "dotdot": "koji-upload/../../secret.json",
        "symlink_out": "koji-upload/link.json",
        "missing": "koji-upload/none.json",
        "directory": "koji-upload",
    }
    (work_dir / "koji-upload" / "link.json").symlink_to(outside)
    logs = make_logs(hub, tmp_path, work_dir)
    line = metadata_line(paths[kind])
    feed(logs, (POSTBUILD, line))
    logs.close()
    assert logs.metadata_file is None
    assert hub.uploaded("osbs-build.log") == f"{line}\n".encode()


def test_line_merely_mentioning_metadata_is_ordinary(hub, tmp_path, work_dir):
    (work_dir / "x").write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, (POSTBUILD, "copying _metadata_ x"))
    logs.close()
    assert logs.metadata_file is None


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
        for number in range(2000):
            if number >= 512:
                ahead.append(number - build_log.written // (len(line) + 1))
            yield ("binary-container-build-x86-64", line)

    logs.drain(lines(), osbs_platform_of, Counter())
    logs.close()
    # at most two steps' worth of bytes (it settles between one and two), not 512 lines
    assert max(ahead) < 2 * (4 * 1024 * 1024) // len(line)
    assert hub.uploaded("x86_64.log") == (line + "\n").encode() * 2000
