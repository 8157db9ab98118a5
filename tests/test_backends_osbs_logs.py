"""OSBS build logs: platforms, resumed streams and lines that are not UTF-8.

Against the osbs-client 2.8 stand-in; mirrors koji_containerbuild/backends/osbs/logs.py.
The logs are read the way the builder reads them, by logs.stream.stream_build_logs.
"""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.backends.base import (
    REMOTE_SOURCES,
    BackendError,
    Outcome,
    TransientBackendError,
)
from koji_containerbuild.logs.stream import stream_build_logs
from koji_containerbuild.sandbox.osbs.harness import binary_request
from tests.conftest import open_task


class RecordedLogs:
    """Stands in for logs.TaskLogs: keeps each ``(platform, line)`` in the order taken.

    Like TaskLogs.drain, it counts the lines taken per key, also when the
    iterator raises, and returns the exception that ended it. ``on_line``
    runs after each line (a test's move while the build goes on).
    """

    def __init__(self, on_line=None):
        self.lines: list = []
        self.notes: list = []
        self.on_line = on_line

    def write(self, platform, line):
        self.notes.append((platform, line))

    def drain(self, items, platform_of, counts, cancelled=None, marks_of=None):
        try:
            for key, line in items:
                counts[key] += 1
                self.lines.append((platform_of(key), line))
                if self.on_line is not None:
                    self.on_line()
        except Exception as exc:
            return exc
        return None


def follow(backend, handle, on_line=None) -> list:
    """The build's ``(platform, line)`` as stream_build_logs hands them to the task logs."""
    logs = RecordedLogs(on_line)
    stream_build_logs(backend, handle, logs)
    return logs.lines


# -- logs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "platform"),
    [
        ("binary-container-build-x86-64", "x86_64"),
        ("binary-container-build-aarch64", "aarch64"),
        ("binary-container-build-ppc64le", "ppc64le"),
        ("binary-container-build-s390x", "s390x"),
        ("binary-container-hermeto", REMOTE_SOURCES),
        ("binary-container-cachito", REMOTE_SOURCES),
        ("binary-container-prebuild", None),
        ("binary-container-exit", None),
    ],
)
def test_task_names_map_to_platforms(task, platform):
    from koji_containerbuild.backends.osbs.backend import platform_of

    assert platform_of(task) == platform


def two_arch_script():
    return {
        "binary-container-prebuild": ["pre 1", "pre 2"],
        "binary-container-build-x86-64": [f"amd {n}" for n in range(5)],
        "binary-container-build-s390x": [f"s390 {n}" for n in range(3)],
    }


def per_task(lines):
    grouped: dict = {}
    for platform, line in lines:
        grouped.setdefault(platform, []).append(line)
    return grouped


def test_logs_deliver_every_line_with_its_platform(backend, fake_osbs):
    fake_osbs.script(tasks=two_arch_script())
    handle = backend.start(binary_request())
    assert per_task(follow(backend, handle)) == {
        None: ["pre 1", "pre 2"],
        "x86_64": [f"amd {n}" for n in range(5)],
        "s390x": [f"s390 {n}" for n in range(3)],
    }
    assert fake_osbs.calls.count(("get_build_logs", (handle, True, True))) == 1


@pytest.mark.parametrize("break_with", ["network", "silent_end"])
def test_broken_stream_is_resumed_without_repeats(
    backend,
    fake_osbs,
    clock,
    break_with,
):
    from fake_pipelinerun import Pause
    from osbs import exceptions

    error = exceptions.OsbsNetworkException("https://osbs", "reset", 0)
    tasks = two_arch_script()
    still_running = Pause()  # the run goes on after the breaks, until the last open reaches it
    tasks["binary-container-build-x86-64"].append(still_running)
    fake_osbs.script(
        tasks=tasks,
        stream_breaks=[(4, error if break_with == "network" else None), (7, error)],
    )
    handle = backend.start(binary_request())

    def release_once_opened_three_times():
        if fake_osbs.runs[handle].log_opens == 3:
            still_running.event.set()

    lines = per_task(follow(backend, handle, release_once_opened_three_times))
    assert lines["x86_64"] == [f"amd {n}" for n in range(5)]
    assert lines["s390x"] == [f"s390 {n}" for n in range(3)]
    assert lines[None] == ["pre 1", "pre 2"]
    assert fake_osbs.runs[handle].log_opens == 3


def test_stream_that_stays_broken_ends_in_a_clear_error(backend, fake_osbs, clock):
    from osbs import exceptions

    error = exceptions.OsbsNetworkException("https://osbs", "reset", 0)
    fake_osbs.script(tasks=two_arch_script(), stream_breaks=[(1, error)] + [(0, error)] * 100)
    handle = backend.start(binary_request())
    logs = RecordedLogs()
    with pytest.raises(TransientBackendError, match="task log is incomplete") as broken:
        stream_build_logs(backend, handle, logs)
    assert logs.lines == [(None, "pre 1")]
    assert logs.notes == [
        (None, f"koji-containerbuild: the build log is incomplete: {broken.value}")
    ]
    assert sum(clock.sleeps) == pytest.approx(60.0)


def test_permanent_stream_error_is_reported(backend, fake_osbs):
    from osbs import exceptions

    fake_osbs.script(
        tasks=two_arch_script(),
        stream_breaks=[(2, exceptions.OsbsAuthException("token expired"))],
    )
    handle = backend.start(binary_request())
    with pytest.raises(BackendError, match="token expired"):
        follow(backend, handle)


def bad_byte_script():
    """A line that is not UTF-8 in the middle of one task, lines after it there and elsewhere."""
    return {
        "binary-container-prebuild": ["pre 1", "pre 2"],
        "binary-container-build-x86-64": ["amd 0", "amd 1", b"amd \xff bad", "amd 3", "amd 4"],
        "binary-container-build-s390x": [f"s390 {n}" for n in range(6)],
        "binary-container-exit": ["exit 1"],
    }


def is_note(line) -> bool:
    return isinstance(line, str) and line.startswith("koji-containerbuild:")


def without_notes(lines):
    return [(platform, line) for platform, line in lines if not is_note(line)]


def test_non_utf8_line_and_the_rest_of_every_task_are_delivered(backend, fake_osbs):
    script = bad_byte_script()
    fake_osbs.script(tasks=script)
    handle = backend.start(binary_request())
    delivered = follow(backend, handle)
    lines = per_task(without_notes(delivered))
    assert lines["x86_64"] == ["amd 0", "amd 1", b"amd \xff bad", "amd 3", "amd 4"]
    assert lines["s390x"] == [f"s390 {n}" for n in range(6)]
    # prebuild and exit both belong to no platform: each in its own order, once
    assert [line for line in lines[None] if line.startswith("pre")] == ["pre 1", "pre 2"]
    assert [line for line in lines[None] if line.startswith("exit")] == ["exit 1"]
    notes = [line for _, line in delivered if is_note(line)]
    assert len(notes) == 1 and "binary-container-build-x86-64" in notes[0]
    # osbs-client's stream was not re-opened into the same failure
    assert fake_osbs.runs[handle].log_opens == 1
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert "logs_incomplete" not in result.extra


def test_non_utf8_first_line_then_tasks_never_streamed(backend, fake_osbs):
    fake_osbs.script(
        tasks={
            "binary-container-build-x86-64": [b"\xfe\xff", "amd 1"],
            "binary-container-build-aarch64": ["arm 0", "arm 1"],
        }
    )
    handle = backend.start(binary_request())
    assert without_notes(follow(backend, handle)) == [
        ("x86_64", b"\xfe\xff"),
        ("x86_64", "amd 1"),
        ("aarch64", "arm 0"),
        ("aarch64", "arm 1"),
    ]


def test_rest_of_the_log_reaches_the_task_logs(backend, fake_osbs, sandbox_hub, tmp_path):
    from koji_containerbuild.logs.stream import TaskLogs

    fake_osbs.script(tasks=bad_byte_script())
    handle = backend.start(binary_request())
    session = sandbox_hub.session("builder")
    upload_path = koji.pathinfo.taskrelpath(open_task(sandbox_hub))
    logs = TaskLogs(session, upload_path, str(tmp_path / "local"), sandbox_hub.workdir, 0.01)
    stream_build_logs(backend, handle, logs)
    logs.close()
    with open(tmp_path / "koji" / "work" / upload_path / "x86_64.log", "rb") as handle:
        x86 = handle.read()
    assert x86.endswith(b"amd 0\namd 1\namd \xff bad\namd 3\namd 4\n")
    with open(tmp_path / "local" / "osbs-build.log", "rb") as handle:
        build_log = handle.read().splitlines()
    assert [line for line in build_log if line.startswith(b"s390")] == [
        f"s390 {n}".encode() for n in range(6)
    ]
    assert build_log.count(b"amd 3") == 1


def test_transient_fault_while_reading_the_rest_is_retried(backend, fake_osbs, clock):
    from osbs import exceptions

    fake_osbs.script(tasks=bad_byte_script())
    fake_osbs.fail("openshift_get", exceptions.OsbsNetworkException("https://osbs", "reset", 0))
    handle = backend.start(binary_request())
    lines = per_task(without_notes(follow(backend, handle)))
    assert lines["x86_64"] == ["amd 0", "amd 1", b"amd \xff bad", "amd 3", "amd 4"]
    assert clock.sleeps


def test_rest_that_cannot_be_read_is_noted_and_marked_incomplete(backend, fake_osbs):
    fake_osbs.script(tasks=bad_byte_script(), pod_log_status=403)
    handle = backend.start(binary_request())
    delivered = follow(backend, handle)
    assert ("x86_64", b"amd \xff bad") in delivered
    platform, note = delivered[-1]
    assert platform == "x86_64"
    assert is_note(note)
    assert "is incomplete" in note and "could not be read" in note
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.extra["logs_incomplete"] == note


def test_refused_connections_when_opening_the_stream_are_retried(backend, fake_osbs, clock):
    from fake_openshift import REFUSED

    fake_osbs.script(tasks=two_arch_script())
    handle = backend.start(binary_request())
    fake_osbs.fail_http(REFUSED, times=2)
    lines = per_task(follow(backend, handle))
    assert lines["x86_64"] == [f"amd {n}" for n in range(5)]
    assert clock.sleeps == [1.0, 2.0]
    assert fake_osbs.sleeps == []  # osbs-client itself did not retry


def test_log_stream_of_a_cancelled_build_ends_once_it_has_finished(backend, fake_osbs):
    from fake_pipelinerun import Pause

    fake_osbs.script(tasks={"binary-container-build-x86-64": ["step 1", Pause(), "never"]})
    handle = backend.start(binary_request())
    delivered = follow(backend, handle, lambda: backend.cancel(handle))
    assert delivered == [("x86_64", "step 1")]
    assert fake_osbs.runs[handle].reason == "Cancelled"
    assert fake_osbs.runs[handle].log_opens == 1
