"""Contract of the osbs-client 2.8 stand-in (sandbox/osbs/standins/osbs): one test per behaviour.

Each test names the osbs-client 2.8.0 function whose behaviour it pins
(osbs/api.py, osbs/tekton.py, osbs/osbs_http.py, osbs/utils, osbs/build/user_params.py),
so the backend's tests run against a client at least as strict as the real one.
"""

from __future__ import annotations

import threading

import pytest

from koji_containerbuild.sandbox.osbs.harness import DEMO_DOCKERFILE, make_source
from tests.osbs_standin_harness import create


def running(fake_osbs, **changes):
    from fake_pipelinerun import Pause

    pause = Pause()
    fake_osbs.script(tasks={"binary-container-build-x86-64": ["step 1", pause]}, **changes)
    return pause


# -- cancel: osbs.api.OSBS.cancel_build -> tekton.PipelineRun.cancel_pipeline_run ----------------


def test_cancel_build_leaves_the_run_cancelled_run_finally_and_not_finished(osbs, fake_osbs):
    running(fake_osbs)
    name = create(osbs)
    osbs.cancel_build(name)
    assert osbs.get_build_reason(name) == "CancelledRunFinally"
    assert osbs.build_not_finished(name) is True
    assert osbs.build_was_cancelled(name) is False


def test_cancelled_run_ends_as_cancelled_and_build_was_cancelled_stays_false(osbs, fake_osbs):
    running(fake_osbs)
    name = create(osbs)
    osbs.cancel_build(name)
    osbs.wait_for_build_to_finish(name)
    assert osbs.get_build_reason(name) == "Cancelled"
    assert osbs.build_not_finished(name) is False
    assert osbs.build_was_cancelled(name) is False


def test_build_was_cancelled_only_for_pipeline_run_cancelled(osbs, fake_osbs):
    # tekton.PipelineRun.was_cancelled
    fake_osbs.script(state="PipelineRunCancelled")
    name = create(osbs)
    assert osbs.build_was_cancelled(name) is True


def test_cancel_build_of_a_missing_run_raises_osbs_exception(osbs, fake_osbs):
    from osbs.exceptions import OsbsException

    with pytest.raises(OsbsException, match="can't be canceled, because it doesn't exist"):
        osbs.cancel_build("no-such-run")


def test_cancel_build_is_not_retried_on_a_server_error(osbs, fake_osbs):
    # osbs_http: PATCH is not in HTTP_RETRIES_METHODS_WHITELIST
    from osbs.exceptions import OsbsResponseException

    running(fake_osbs)
    name = create(osbs)
    fake_osbs.fail_http(503, times=20)
    with pytest.raises(OsbsResponseException) as error:
        osbs.cancel_build(name)
    assert error.value.status_code == 503
    assert [attempt[0] for attempt in fake_osbs.http_attempts[-1:]] == ["PATCH"]
    assert fake_osbs.sleeps == []
    assert len(fake_osbs.http_faults) == 19


def test_cancel_build_is_retried_on_refused_connections(osbs, fake_osbs):
    # urllib3's Retry counts connect errors for every method, PATCH included
    from fake_openshift import REFUSED

    running(fake_osbs)
    name = create(osbs)
    fake_osbs.fail_http(REFUSED, times=3)
    osbs.cancel_build(name)
    assert fake_osbs.sleeps == [8, 16]
    assert fake_osbs.cancelled == [name]


def test_cancel_build_retries_a_conflict(osbs, fake_osbs):
    # utils.retry_on_conflict: 409 retried, 5 s doubling
    running(fake_osbs)
    name = create(osbs)
    fake_osbs.fail_http(409, times=2)
    osbs.cancel_build(name)
    assert fake_osbs.sleeps == [5, 10]
    assert fake_osbs.cancelled == [name]


# -- waiting: tekton.PipelineRun.wait_for_finish --------------------------------------------------


def test_wait_for_build_to_finish_polls_every_5_seconds_until_finished(osbs, fake_osbs):
    running(fake_osbs, finally_seconds=22)
    name = create(osbs)
    osbs.cancel_build(name)
    osbs.wait_for_build_to_finish(name)
    assert fake_osbs.sleeps == [5, 5, 5, 5, 5]
    assert osbs.build_not_finished(name) is False


def test_wait_for_build_to_finish_gives_up_after_5_hours(osbs, fake_osbs):
    fake_osbs.REAL_PAUSE = 0
    running(fake_osbs)
    name = create(osbs)
    osbs.wait_for_build_to_finish(name)
    assert sum(fake_osbs.sleeps) == 5 * 3600
    assert osbs.build_not_finished(name) is True


def test_wait_for_build_to_finish_returns_at_once_for_a_finished_run(osbs, fake_osbs):
    name = create(osbs)
    osbs.wait_for_build_to_finish(name)
    assert fake_osbs.sleeps == []


# -- logs: tekton.PipelineRun._get_logs_stream -------------------------------------------------


def test_get_build_logs_waits_for_the_run_to_start(osbs, fake_osbs):
    from fake_pipelinerun import Pause

    gate = Pause()
    fake_osbs.script(start=gate, tasks={"binary-container-build-x86-64": ["first"]})
    name = create(osbs)
    assert osbs.get_build_reason(name) == "Started"
    events = []

    def release_once_the_stream_waits():
        while not fake_osbs.runs[name].log_opens:
            threading.Event().wait(0.005)
        events.append("started")
        gate.event.set()

    releaser = threading.Thread(target=release_once_the_stream_waits)
    releaser.start()
    for _task, line in osbs.get_build_logs(name, follow=True, wait=True):
        events.append(line)
    releaser.join()
    assert events == ["started", "first"]


def test_get_build_logs_streams_later_tasks_once_they_appear(osbs, fake_osbs):
    from fake_pipelinerun import Pause

    prebuild_done = Pause()
    s390_done = Pause()
    fake_osbs.script(
        tasks={
            "binary-container-prebuild": ["pre 1", prebuild_done, "pre 2"],
            "binary-container-build-x86-64": ["amd 1", "amd 2"],
            "binary-container-build-s390x": ["s390 1", s390_done],
            "binary-container-exit": ["exit 1"],
        },
        stages=[
            ["binary-container-prebuild"],
            ["binary-container-build-x86-64", "binary-container-build-s390x"],
            ["binary-container-exit"],
        ],
    )
    name = create(osbs)
    stream = osbs.get_build_logs(name, follow=True, wait=True)
    assert next(stream) == ("binary-container-prebuild", "pre 1")
    tasks = [ref["pipelineTaskName"] for ref in osbs.get_build(name)["status"]["childReferences"]]
    assert tasks == ["binary-container-prebuild"]
    prebuild_done.event.set()
    lines = []
    for _task, line in stream:
        lines.append(line)
        if line == "amd 2":
            started = osbs.get_build(name)["status"]["childReferences"]
            assert "binary-container-exit" not in [ref["pipelineTaskName"] for ref in started]
            s390_done.event.set()
    assert lines == ["pre 2", "amd 1", "s390 1", "amd 2", "exit 1"]


def test_get_build_logs_ends_when_the_cancelled_run_has_finished(osbs, fake_osbs):
    running(fake_osbs)
    name = create(osbs)
    stream = osbs.get_build_logs(name, follow=True, wait=True)
    assert next(stream) == ("binary-container-build-x86-64", "step 1")
    osbs.cancel_build(name)
    assert list(stream) == []
    assert osbs.get_build_reason(name) == "Cancelled"


def test_get_build_logs_of_a_missing_run_is_empty_after_the_watches_give_up(osbs, fake_osbs):
    # tekton.Openshift.watch_resource: 20 reconnects 5 s apart, for the run and its task runs
    assert list(osbs.get_build_logs("no-such-run", follow=True, wait=True)) == []
    assert fake_osbs.sleeps == [5] * 40


# -- HTTP: osbs_http.HttpStream's Retry (HTTP_MAX_RETRIES, HTTP_BACKOFF_FACTOR) --------------


def test_refused_connections_are_retried_8_times_over_480_seconds(osbs, fake_osbs):
    from fake_openshift import REFUSED

    fake_osbs.fail_http(REFUSED, times=8)
    create(osbs)
    assert fake_osbs.sleeps == [8, 16, 32, 64, 120, 120, 120]
    assert sum(fake_osbs.sleeps) == 480


def test_refused_connection_surfaces_after_the_retries_with_its_cause(osbs, fake_osbs):
    import requests
    from fake_openshift import REFUSED
    from osbs.exceptions import OsbsException

    fake_osbs.fail_http(REFUSED, times=9)
    with pytest.raises(OsbsException) as error:
        create(osbs)
    assert isinstance(error.value.cause, requests.ConnectionError)
    assert fake_osbs.created == []


def test_server_errors_of_a_get_are_retried(osbs, fake_osbs):
    name = create(osbs)
    fake_osbs.fail_http(503, times=3)
    assert osbs.build_has_succeeded(name) is True
    assert fake_osbs.sleeps == [8, 16]


def test_no_retries_when_retries_are_disabled(osbs, fake_osbs):
    from fake_openshift import REFUSED
    from osbs.exceptions import OsbsException

    osbs.os.retries_enabled = False
    fake_osbs.fail_http(REFUSED, times=2)
    with pytest.raises(OsbsException):
        create(osbs)
    assert fake_osbs.sleeps == []
    assert len(fake_osbs.http_faults) == 1


def test_a_timed_out_request_takes_the_request_timeout(osbs, fake_osbs):
    from fake_openshift import TIMEOUT
    from osbs.exceptions import OsbsNetworkException

    osbs.os.retries_enabled = False
    fake_osbs.fail_http(TIMEOUT)
    with pytest.raises(OsbsNetworkException):
        osbs.get_build("any")
    assert fake_osbs.sleeps == [600]


def test_demo_dockerfile_passes_every_create_check(osbs, fake_osbs, tmp_path):
    git_uri, git_ref = make_source(str(tmp_path / "repo"), {"Dockerfile": DEMO_DOCKERFILE})
    create(osbs, git_uri=git_uri, git_ref=git_ref)
    assert len(fake_osbs.created) == 1


def test_create_of_a_name_that_exists_is_a_conflict(osbs, fake_osbs, monkeypatch):
    # PipelineRun.start_pipeline_run: the API server answers 409 AlreadyExists
    from osbs import utils
    from osbs.exceptions import OsbsResponseException

    monkeypatch.setattr(utils, "generate_random_postfix", lambda: "12345-20260101000000")
    create(osbs, scratch=True)
    with pytest.raises(OsbsResponseException) as error:
        create(osbs, scratch=True)
    assert error.value.status_code == 409
    assert error.value.json["reason"] == "AlreadyExists"
    assert len(fake_osbs.created) == 1


def test_lost_answer_to_a_create_is_retried_into_a_conflict(osbs, fake_osbs):
    # osbs_http: POST is retried on a read timeout, with the same run name
    from fake_openshift import LOST
    from osbs.exceptions import OsbsResponseException

    fake_osbs.fail_http(LOST)
    with pytest.raises(OsbsResponseException) as error:
        create(osbs)
    assert error.value.status_code == 409
    assert len(fake_osbs.created) == 1
    assert fake_osbs.sleeps == [600]


def test_cancel_starts_no_further_task(osbs, fake_osbs):
    # Tekton creates no TaskRun for a later task once the run is cancelled
    from fake_pipelinerun import Pause

    fake_osbs.script(
        tasks={"binary-container-prebuild": ["pre", Pause()], "binary-container-exit": ["x"]},
        stages=[["binary-container-prebuild"], ["binary-container-exit"]],
    )
    name = create(osbs)
    osbs.cancel_build(name)
    tasks = [ref["pipelineTaskName"] for ref in osbs.get_build(name)["status"]["childReferences"]]
    assert tasks == ["binary-container-prebuild"]


def test_wait_for_build_to_finish_raises_when_a_poll_is_refused(osbs, fake_osbs):
    # has_not_finished GETs the run on every poll; with retries off a refusal surfaces
    from fake_openshift import REFUSED
    from osbs.exceptions import OsbsException

    running(fake_osbs)
    name = create(osbs)
    osbs.os.retries_enabled = False
    fake_osbs.fail_http(REFUSED)
    with pytest.raises(OsbsException):
        osbs.wait_for_build_to_finish(name)
