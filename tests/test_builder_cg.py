"""Builds the plugin imports itself (backends with imports_builds False).

A small backend implementing base.BuildBackend stands in for the local
buildah backend, so these tests are about the task flow around it: the
NVR is reserved before the build starts, imported after success, and the
reservation refunded on every failure, exception or cancel.
"""

import hashlib
import os
import signal

import koji
import koji.xmlrpcplus
import pytest

from koji_containerbuild.backends.base import (
    BackendError,
    BuildBackend,
    BuildResult,
    ImageOutput,
    Outcome,
)
from koji_containerbuild.builder import results
from koji_containerbuild.builder import run as taskrun
from koji_containerbuild.builder.cancel import TaskCancelled
from tests.builder_harness import (
    DOCKERFILE,
    Kojid,
    import_image_build,
    kojid_signal,
    write_builder_config,
)

NVR = "demo-image-1.0-1"


class ImageBuildingBackend(BuildBackend):
    """Builds nothing but reports one x86_64 image, like the local backend."""

    name = "local"
    imports_builds = False

    def __init__(self, workdir, session):
        self.workdir = workdir
        self.session = session
        self.outcome = Outcome.SUCCEEDED
        self.log_error = None
        self.on_start = None
        self.requests = []
        self.nvr_state_at_start = None
        self.cancelled = []
        self.cleaned = []
        self.known = set()

    def start(self, request):
        self.requests.append(request)
        build = self.session.getBuild(f"{request.component}-{request.version}-{request.release}")
        self.nvr_state_at_start = build and koji.BUILD_STATES[build["state"]]
        handle = f"fake-{len(self.requests)}"
        self.known.add(handle)
        if self.on_start:
            self.on_start()
        return handle

    def logs(self, handle):
        yield "x86_64", "STEP 1/2: FROM scratch"
        if self.log_error:
            raise self.log_error
        yield "x86_64", "STEP 2/2: LABEL ..."

    def wait(self, handle):
        if self.outcome != Outcome.SUCCEEDED:
            return BuildResult(self.outcome, reason="RUN exited with 1", build_name=handle)
        archive = os.path.join(self.workdir, f"{handle}.tar")
        with open(archive, "wb") as out:
            out.write(b"not really an image archive")
        digest = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
        pull = f"127.0.0.1:5000/demo/image@{digest}"
        image = ImageOutput(
            arch="x86_64",
            image_id="sha256:" + hashlib.sha256(b"config").hexdigest(),
            archive_path=archive,
            digests={"application/vnd.oci.image.manifest.v1+json": digest},
            config={"architecture": "amd64", "os": "linux"},
            layer_sizes=[{"diff_id": "sha256:" + "0" * 64, "size": 27}],
            repositories=[pull, "127.0.0.1:5000/demo/image:1.0-1"],
            tags=["1.0-1"],
        )
        return BuildResult(
            Outcome.SUCCEEDED,
            repositories=[pull, "127.0.0.1:5000/demo/image:1.0-1"],
            platforms=["x86_64"],
            images=[image],
            build_name=handle,
        )

    def cancel(self, handle):
        self.cancelled.append(handle)

    def cleanup(self, handle):
        self.cleaned.append(handle)

    def lookup(self, handle):
        return handle in self.known


@pytest.fixture
def kojid(sandbox_hub, tmp_path, monkeypatch):
    config = write_builder_config(str(tmp_path / "builder.conf"), "local")
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    sandbox_hub.grant_cg_access("builder", "koji-containerbuild")
    return Kojid(sandbox_hub, str(tmp_path / "kojid-work"))


@pytest.fixture
def backend(kojid, tmp_path, monkeypatch):
    fake = ImageBuildingBackend(str(tmp_path), kojid.session)
    monkeypatch.setattr(taskrun, "create_backend", lambda name, settings: fake)
    return fake


@pytest.fixture
def source(git_sources):
    return git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})


OPTS = {"git_branch": "main"}


def build_state(kojid, nvr=NVR):
    build = kojid.session.getBuild(nvr)
    return build and koji.BUILD_STATES[build["state"]]


def test_nvr_is_reserved_before_the_build_starts(kojid, backend, source):
    kojid.run(kojid.submit(source, OPTS))
    assert backend.nvr_state_at_start == "BUILDING"


def test_success_imports_the_build(kojid, backend, source):
    result = kojid.run(kojid.submit(source, OPTS))
    build = kojid.session.getBuild(NVR)
    assert result["koji_builds"] == [str(build["id"])]
    assert koji.BUILD_STATES[build["state"]] == "COMPLETE"
    assert backend.cleaned == ["fake-1"]


def test_failed_build_refunds_the_reservation(kojid, backend, source):
    backend.outcome = Outcome.FAILED
    with pytest.raises(koji.BuildError, match="fake-1 failed: RUN exited with 1"):
        kojid.run(kojid.submit(source, OPTS))
    assert build_state(kojid) == "FAILED"


def test_refunded_nvr_can_be_built_again(kojid, backend, source):
    backend.outcome = Outcome.FAILED
    with pytest.raises(koji.BuildError):
        kojid.run(kojid.submit(source, OPTS))
    backend.outcome = Outcome.SUCCEEDED
    kojid.run(kojid.submit(source, OPTS))
    assert build_state(kojid) == "COMPLETE"


def test_exception_while_following_refunds_and_stops_the_build(kojid, backend, source):
    backend.log_error = RuntimeError("log stream exploded")
    with pytest.raises(RuntimeError):
        kojid.run(kojid.submit(source, OPTS))
    assert build_state(kojid) == "FAILED"
    assert backend.cancelled == ["fake-1"]


def test_backend_error_fails_the_task_with_its_sentence(kojid, backend, source):
    backend.log_error = BackendError("The build host cannot build s390x; use --arch-override.")
    with pytest.raises(koji.BuildError, match="cannot build s390x"):
        kojid.run(kojid.submit(source, OPTS))
    assert build_state(kojid) == "FAILED"


def test_cancel_during_start_cancels_build_and_refunds(kojid, backend, source, sandbox_hub):
    task_id = kojid.submit(source, OPTS)

    def cancel_in_koji():
        sandbox_hub.session("admin").cancelTask(task_id)
        kojid_signal(signal.SIGINT)

    backend.on_start = cancel_in_koji
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    assert backend.cancelled == ["fake-1"]
    assert build_state(kojid) == "CANCELED"


def test_scratch_build_reserves_and_imports_nothing(kojid, backend, source):
    result = kojid.run(kojid.submit(source, {"git_branch": "main", "scratch": True}))
    assert result["koji_builds"] == []
    assert build_state(kojid) is None


def test_missing_release_takes_the_next_free_one(kojid, backend, git_sources):
    dockerfile = DOCKERFILE.replace(" release=1", "")
    src = git_sources.publish("norelease", {"Dockerfile": dockerfile})
    kojid.run(kojid.submit(src, OPTS))
    kojid.run(kojid.submit(src, OPTS))
    assert [r.release for r in backend.requests] == ["1", "2"]
    assert build_state(kojid, "demo-image-1.0-2") == "COMPLETE"


def test_koji_parent_build_is_resolved_to_its_pull_spec(
    kojid, backend, source, sandbox_hub, tmp_path
):
    pull = "registry.example.com/base@sha256:" + "b" * 64
    import_image_build(
        sandbox_hub, str(tmp_path / "parent"), "base-1-1", {"index": {"pull": [pull]}}
    )
    kojid.run(kojid.submit(source, {**OPTS, "koji_parent_build": "base-1-1"}))
    assert backend.requests[0].parent_image == pull


def test_koji_parent_build_without_pull_spec_is_refused(
    kojid, backend, source, sandbox_hub, tmp_path
):
    import_image_build(sandbox_hub, str(tmp_path / "parent"), "base-1-1", {})
    with pytest.raises(koji.BuildError, match="records no pull spec"):
        kojid.run(kojid.submit(source, {**OPTS, "koji_parent_build": "base-1-1"}))
    assert backend.requests == []


def test_koji_parent_build_that_does_not_exist_is_refused(kojid, backend, source):
    with pytest.raises(koji.BuildError, match="koji_parent_build 'base-1-1' does not exist"):
        kojid.run(kojid.submit(source, {**OPTS, "koji_parent_build": "base-1-1"}))
    assert backend.requests == []


def test_imported_build_records_its_koji_parent_build(
    kojid, backend, source, sandbox_hub, tmp_path
):
    pull = "registry.example.com/base@sha256:" + "b" * 64
    parent = import_image_build(
        sandbox_hub, str(tmp_path / "parent"), "base-1-1", {"index": {"pull": [pull]}}
    )
    kojid.run(kojid.submit(source, {**OPTS, "koji_parent_build": "base-1-1"}))
    assert kojid.session.getBuild(NVR)["extra"]["image"]["parent_build_id"] == parent["id"]


def test_imported_build_records_userdata_as_custom_user_metadata(kojid, backend, source):
    kojid.run(kojid.submit(source, {**OPTS, "userdata": {"team": "demo"}}))
    assert kojid.session.getBuild(NVR)["extra"]["custom_user_metadata"] == {"team": "demo"}


def cancel_then_import(sandbox_hub, task_id, real_import):
    """An import that is overtaken by a Koji cancel and kojid's SIGINT."""

    def importer(*args, **kwargs):
        sandbox_hub.session("admin").cancelTask(task_id)
        kojid_signal(signal.SIGINT)
        return real_import(*args, **kwargs)

    return importer


def test_cancel_after_the_build_finished_withdraws_it(
    kojid, backend, source, sandbox_hub, monkeypatch
):
    task_id = kojid.submit(source, OPTS)
    monkeypatch.setattr(
        results.cg,
        "import_build",
        cancel_then_import(sandbox_hub, task_id, results.cg.import_build),
    )
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    assert backend.cancelled == ["fake-1"]


def test_cancel_after_the_build_finished_leaves_a_canceled_build(
    kojid, backend, source, sandbox_hub, monkeypatch
):
    task_id = kojid.submit(source, OPTS)
    monkeypatch.setattr(
        results.cg,
        "import_build",
        cancel_then_import(sandbox_hub, task_id, results.cg.import_build),
    )
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    assert build_state(kojid) == "CANCELED"


def test_refused_import_withdraws_the_finished_build(kojid, backend, source, monkeypatch):
    def refused(*args, **kwargs):
        raise koji.BuildError("Koji refused to import demo-image-1.0-1: no.")

    monkeypatch.setattr(results.cg, "import_build", refused)
    with pytest.raises(koji.BuildError, match="refused"):
        kojid.run(kojid.submit(source, OPTS))
    assert backend.cancelled == ["fake-1"]


def test_imported_build_is_not_withdrawn_when_the_task_fails_later(
    kojid, backend, source, monkeypatch
):
    def fails_after_import(self, *args, **kwargs):
        raise koji.GenericError("closing the task failed")

    monkeypatch.setattr(taskrun._BuildRun, "result_dict", fails_after_import)
    with pytest.raises(koji.GenericError):
        kojid.run(kojid.submit(source, OPTS))
    assert (backend.cancelled, build_state(kojid)) == ([], "COMPLETE")


def leave_dead_reservation(kojid, sandbox_hub, source, handle):
    """A task that reserved NVR, recorded its build and then died (kojid failed it)."""
    from koji_containerbuild.builder import attach, cg

    dead = kojid.submit(source, OPTS)
    kojid.take(dead)
    reservation = cg.reserve_build(
        kojid.session, "koji-containerbuild", "demo-image", "1.0", "1", task_id=dead
    )
    record = attach.AttachRecord("local", handle, reservation.__dict__)
    attach.write_record(kojid.session, koji.pathinfo.taskrelpath(dead), kojid.options.workdir,
                        record)  # fmt: skip
    fault = koji.xmlrpcplus.Fault(1000, "The task process was killed.")
    kojid.session.host.failTask(dead, koji.xmlrpcplus.dumps(fault))
    return dead


def test_nvr_left_building_by_a_dead_task_builds_again(kojid, backend, source, sandbox_hub):
    leave_dead_reservation(kojid, sandbox_hub, source, "dead-build")
    kojid.run(kojid.submit(source, OPTS))
    assert build_state(kojid) == "COMPLETE"


def test_build_of_a_dead_task_is_stopped_by_the_next_one(kojid, backend, source, sandbox_hub):
    backend.known.add("dead-build")
    leave_dead_reservation(kojid, sandbox_hub, source, "dead-build")
    kojid.run(kojid.submit(source, OPTS))
    assert backend.cancelled == ["dead-build"]


def test_automatic_release_reuses_a_release_a_dead_task_left(
    kojid, backend, git_sources, sandbox_hub
):
    dockerfile = DOCKERFILE.replace(" release=1", "")
    src = git_sources.publish("norelease", {"Dockerfile": dockerfile})
    leave_dead_reservation(kojid, sandbox_hub, src, "dead-build")
    kojid.run(kojid.submit(src, OPTS))
    assert [r.release for r in backend.requests] == ["1"]


def test_kojid_shutdown_during_import_keeps_the_build_for_the_rerun(
    kojid, backend, source, monkeypatch
):
    def shutdown_during_import(*args, **kwargs):
        kojid_signal(signal.SIGINT)  # the task is still OPEN: kojid is stopping

    monkeypatch.setattr(results.cg, "import_build", shutdown_during_import)
    with pytest.raises(TaskCancelled):
        kojid.run(kojid.submit(source, OPTS))
    assert (backend.cleaned, backend.cancelled) == ([], [])
