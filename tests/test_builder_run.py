"""How the builder plugin runs a build to its end (builder/run.py).

Through the real builder plugin file against the osbs-client stand-in: a
failed or cancelled build ends the task, a stop signal cancels the build or
keeps it for the rerun, and a rerun follows the recorded build or starts anew.
"""

import signal

import koji
import pytest

from koji_containerbuild.builder.cancel import TaskCancelled
from tests.builder_harness import DOCKERFILE, kojid_signal, when
from tests.osbs_builder_fixture import BUILD_OPTS


def fake_pipelinerun():
    import fake_pipelinerun as module

    return module


# -- outcomes ------------------------------------------------------------------


def test_failed_build_fails_task_with_reason_and_name(kojid, fake_osbs, source):
    fake_osbs.script(state="Failed", error_message="RUN step exited with 1;")
    with pytest.raises(koji.BuildError) as error:
        kojid.run(kojid.submit(source, BUILD_OPTS))
    name = next(iter(fake_osbs.runs))
    assert str(error.value) == f"The container build {name} failed: RUN step exited with 1"


def test_failure_text_names_the_build_once(kojid, fake_osbs, source):
    fake_osbs.script(state="Failed", error_message="Error in plugin check_base_image: nope")
    with pytest.raises(koji.BuildError) as error:
        kojid.run(kojid.submit(source, BUILD_OPTS))
    name = next(iter(fake_osbs.runs))
    assert str(error.value).count(name) == 1


def test_build_osbs_refuses_at_create_fails_the_task_with_one_sentence(
    kojid, fake_osbs, git_sources
):
    dockerfile = DOCKERFILE.replace("release=1", "release=abc")
    src = git_sources.publish("demo-image", {"Dockerfile": dockerfile})
    with pytest.raises(koji.BuildError) as error:
        kojid.run(kojid.submit(src, BUILD_OPTS))
    message = str(error.value)
    assert (
        "OSBS refused the build: release label doesn't have proper format; correct it" in message
    )
    assert "Traceback" not in message
    assert fake_osbs.created == []


def test_cancel_in_osbs_cancels_the_task(kojid, fake_osbs, source):
    fake_osbs.script(state="PipelineRunCancelled")
    task_id = kojid.submit(source, BUILD_OPTS)
    with pytest.raises(koji.BuildError, match="cancelled"):
        kojid.run(task_id)
    assert kojid.task_state(task_id) == "CANCELED"


def test_build_that_cannot_be_recorded_is_cancelled_and_fails(
    kojid, fake_osbs, source, monkeypatch
):
    from koji_containerbuild.builder import run as taskrun

    def hub_refuses(*args, **kwargs):
        raise koji.GenericError("upload path exists")

    monkeypatch.setattr(taskrun, "write_record", hub_refuses)
    with pytest.raises(koji.BuildError, match="could not be recorded in the task output"):
        kojid.run(kojid.submit(source, BUILD_OPTS))
    assert fake_osbs.cancelled == list(fake_osbs.runs)


def paused_build(fake_osbs):
    pause = fake_pipelinerun().Pause()
    fake_osbs.script(tasks={"binary-container-build-x86-64": ["first line", pause, "last"]})
    return pause


def once_logs_open(fake_osbs, action):
    """Run ``action`` in a thread as soon as the task follows a build's logs."""
    when(lambda: any(run.log_opens for run in fake_osbs.runs.values()), action)


def test_koji_cancel_signal_cancels_the_osbs_build(kojid, fake_osbs, source, sandbox_hub):
    paused_build(fake_osbs)
    task_id = kojid.submit(source, BUILD_OPTS)

    def cancel():
        sandbox_hub.session("admin").cancelTask(task_id)
        kojid_signal(signal.SIGINT)

    once_logs_open(fake_osbs, cancel)
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    assert fake_osbs.cancelled == list(fake_osbs.runs)


def test_shutdown_signal_keeps_the_build_and_rerun_follows_it(kojid, fake_osbs, source):
    pause = paused_build(fake_osbs)
    task_id = kojid.submit(source, BUILD_OPTS)
    once_logs_open(fake_osbs, lambda: kojid_signal(signal.SIGINT))
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)  # the task is still OPEN: kojid is going down
    assert fake_osbs.cancelled == []
    pause.event.set()
    result = kojid.run(task_id)  # the same task run again after the restart
    assert len(fake_osbs.created) == 1
    assert result["build_name"] == next(iter(fake_osbs.runs))


def test_rerun_follows_a_binary_build_named_like_a_source_build(
    kojid, fake_osbs, git_sources, sandbox_hub
):
    sandbox_hub.add_package("demo-candidate", "source-highlight", "alice")
    dockerfile = DOCKERFILE.replace("component=demo-image", "component=source-highlight")
    source = git_sources.publish("source-highlight", {"Dockerfile": dockerfile})
    pause = paused_build(fake_osbs)
    task_id = kojid.submit(source, BUILD_OPTS)
    once_logs_open(fake_osbs, lambda: kojid_signal(signal.SIGINT))
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    pause.event.set()
    result = kojid.run(task_id)  # a new backend: it knows the build only from the record
    assert result["build_name"].startswith("source-highlight-")
    assert {conf.conf_section for conf in fake_osbs.configurations} == {"default_binary"}


def test_rerun_starts_anew_when_the_recorded_build_is_gone(kojid, fake_osbs, source):
    task_id = kojid.submit(source, BUILD_OPTS)
    kojid.run(task_id)
    for run in fake_osbs.runs.values():
        run.removed = True
    kojid.run(task_id)
    assert len(fake_osbs.created) == 2
