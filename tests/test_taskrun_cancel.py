"""A cancel while the build prints: the build and the NVR first, the logs last.

kojid follows its SIGINT with SIGTERM about 3 s later and SIGKILL about 2 s
after that, and the hub refuses every upload of a cancelled task. These
tests run the real task flow against the sandbox hub (which refuses those
uploads as kojihub does) with a backend whose build prints without end.
"""

from __future__ import annotations

import signal
import threading

import koji
import pytest

from koji_containerbuild.builder import run as taskrun
from koji_containerbuild.builder.cancel import TaskCancelled
from tests.builder_harness import DOCKERFILE, Kojid, kojid_signal, when, write_builder_config
from tests.test_builder_cg import OPTS, ImageBuildingBackend, build_state


class ChattyBackend(ImageBuildingBackend):
    """A build that prints lines until it is cancelled (or, if nobody does, a long while)."""

    max_lines = 30_000

    def __init__(self, workdir, session):
        super().__init__(workdir, session)
        self.stopped = threading.Event()
        self.lines = 0
        #: called after each line was handed over, in the thread reading the logs
        self.after_line = None

    def logs(self, handle):
        while not self.stopped.is_set() and self.lines < self.max_lines:
            self.lines += 1
            yield "x86_64", f"RUN line {self.lines}"
            if self.after_line is not None:
                self.after_line()
            self.stopped.wait(0.002)

    def cancel(self, handle):
        super().cancel(handle)
        self.stopped.set()


@pytest.fixture
def kojid(sandbox_hub, tmp_path, monkeypatch):
    config = write_builder_config(str(tmp_path / "builder.conf"), "local")
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    sandbox_hub.grant_cg_access("builder", "koji-containerbuild")
    return Kojid(sandbox_hub, str(tmp_path / "kojid-work"))


@pytest.fixture
def source(git_sources):
    return git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})


@pytest.fixture
def backend(kojid, tmp_path, monkeypatch):
    fake = ChattyBackend(str(tmp_path), kojid.session)
    monkeypatch.setattr(taskrun, "create_backend", lambda name, settings: fake)
    return fake


class UploadSpy:
    """Records what the hub answered to each upload of the builder session."""

    def __init__(self, session):
        self.answers: list[str] = []
        #: set by hang_in_upload: cancel the task from inside an upload, which then hangs
        self.cancel_from_upload = None
        #: set while an upload hangs
        self.hanging = threading.Event()
        self.release = threading.Event()
        real = session.rawUpload

        def upload(*args, **kwargs):
            cancel, self.cancel_from_upload = self.cancel_from_upload, None
            if cancel is not None:
                # a hub that stops answering uploads (overloaded, network gone);
                # marked before the cancel, whose SIGINT the main thread may
                # handle before this thread runs again
                self.hanging.set()
                cancel()
                self.release.wait(10)
                self.hanging.clear()
            try:
                result = real(*args, **kwargs)
            except Exception as error:
                self.answers.append(type(error).__name__)
                raise
            self.answers.append("ok")
            return result

        session.rawUpload = upload


def koji_cancel(sandbox_hub, task_id):
    """`koji cancel`, then kojid's SIGINT to the task process."""

    def cancel():
        sandbox_hub.session("alice").cancelTask(task_id)
        kojid_signal(signal.SIGINT)

    return cancel


def cancel_between_two_lines(backend, spy, sandbox_hub, task_id):
    """`koji cancel` after a line, kojid's SIGINT after the next one.

    So a line printed after the cancel is still to be uploaded, however the
    uploader's flushes fall: the one upload the hub must refuse.
    """
    steps = iter(
        (
            lambda: sandbox_hub.session("alice").cancelTask(task_id),
            lambda: kojid_signal(signal.SIGINT),
        )
    )

    def after_line():
        if backend.lines > 200 and "ok" in spy.answers:
            next(steps, lambda: None)()

    backend.after_line = after_line


def test_refused_upload_of_a_cancelled_task_is_never_retried(kojid, backend, source, sandbox_hub):
    spy = UploadSpy(kojid.session)
    task_id = kojid.submit(source, OPTS)
    cancel_between_two_lines(backend, spy, sandbox_hub, task_id)
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    assert spy.answers.count("ActionNotAllowed") == 1
    assert backend.cancelled == ["fake-1"]
    assert build_state(kojid) == "CANCELED"


def test_build_is_cancelled_and_refunded_while_an_upload_still_hangs(
    kojid, backend, source, sandbox_hub
):
    spy = UploadSpy(kojid.session)
    seen_at_cancel = []
    stopped = backend.cancel

    def cancel(handle):
        seen_at_cancel.append(spy.hanging.is_set())
        stopped(handle)

    backend.cancel = cancel
    task_id = kojid.submit(source, OPTS)
    arm = koji_cancel(sandbox_hub, task_id)
    when(lambda: backend.lines > 200, lambda: setattr(spy, "cancel_from_upload", arm))
    try:
        with pytest.raises(TaskCancelled):
            kojid.run(task_id)
        state_when_run_ended = build_state(kojid)
    finally:
        spy.release.set()
    assert seen_at_cancel == [True]
    assert state_when_run_ended == "CANCELED"


def test_kojid_shutdown_keeps_the_build_and_uploads_the_logs(kojid, backend, source):
    spy = UploadSpy(kojid.session)
    task_id = kojid.submit(source, OPTS)
    when(lambda: backend.lines > 200, lambda: kojid_signal(signal.SIGINT))
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)  # the task is still OPEN: kojid is going down
    assert backend.cancelled == []
    assert build_state(kojid) == "BUILDING"
    assert "ActionNotAllowed" not in spy.answers
    build_log = kojid.session.downloadTaskOutput(task_id, "osbs-build.log")
    assert build_log.startswith(b"RUN line 1\n")
    assert koji.TASK_STATES[kojid.session.getTaskInfo(task_id)["state"]] == "OPEN"
