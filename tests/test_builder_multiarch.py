"""Multi-arch builds: the parent task, its arch subtasks, one import, against the sandbox hub.

The builder plugin's handlers run as kojid runs them: the parent in this
(main) thread, waiting in BaseTaskHandler.wait; a stand-in for the other
kojid processes takes each arch subtask on the host of that arch, runs its
handler, and wakes the waiting parent with SIGUSR2 when the hub alerts it,
as kojid's updateTasks does. A small backend stands in for buildah (the real
one is exercised in tests/e2e/test_e2e_multiarch.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time

import koji
import koji.xmlrpcplus
import pytest

from koji_containerbuild.backends.base import BuildBackend, BuildResult, ImageOutput, Outcome
from koji_containerbuild.builder import multiarch
from koji_containerbuild.builder import run as taskrun
from koji_containerbuild.sandbox.kojid.taskrun import report_result
from tests.builder_harness import DOCKERFILE, Kojid, write_builder_config

NVR = "demo-image-1.0-1"
OPTS = {"git_branch": "main"}
ARCHES = ("x86_64", "aarch64")
REPO = "127.0.0.1:5000/demo/image"
LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class ArchBackend(BuildBackend):
    """Builds nothing; reports one image per arch build and a list for the list build."""

    name = "local"
    imports_builds = False
    arch_subtasks = True

    def __init__(self, workdir):
        self.workdir = workdir
        self.requests = []
        self.lists = []
        self.failing_arch = None
        self.cancelled = []
        self.withdrawn = []
        self.builds = {}
        self.lock = threading.Lock()

    def start(self, request):
        with self.lock:
            handle = f"arch-{len(self.builds) + 1}"
            self.requests.append(request)
            self.builds[handle] = ("arch", request, None)
        return handle

    def start_image_list(self, request, images):
        with self.lock:
            handle = f"list-{len(self.builds) + 1}"
            self.lists.append((request, images))
            self.builds[handle] = ("list", request, images)
        return handle

    def logs(self, handle):
        kind, request, _ = self.builds[handle]
        platform = request.platforms[0] if kind == "arch" else None
        yield platform, f"{kind} build of {' '.join(request.platforms)}"

    def wait(self, handle):
        kind, request, images = self.builds[handle]
        if kind == "list":
            return self.list_result(handle, request, images)
        arch = request.platforms[0]
        if arch == self.failing_arch:
            return BuildResult(Outcome.FAILED, reason="RUN exited with 1", build_name=handle)
        archive = os.path.join(self.workdir, f"docker-image-{handle}.{arch}.tar.gz")
        with open(archive, "wb") as out:
            out.write(f"image of {arch}".encode())
        digest = digest_of(f"manifest {arch}")
        image = ImageOutput(
            arch=arch,
            image_id=digest_of(f"config {arch}"),
            archive_path=archive,
            digests={IMAGE_MEDIA_TYPE: digest},
            config={"architecture": arch, "os": "linux"},
            layer_sizes=[{"diff_id": digest_of(f"layer {arch}"), "size": 27}],
            repositories=[f"{REPO}@{digest}"],
            tools=[{"name": "buildah", "version": "1.28.2"}],
        )
        return BuildResult(
            Outcome.SUCCEEDED,
            repositories=[f"{REPO}@{digest}"],
            platforms=[arch],
            images=[image],
            build_name=handle,
        )

    def list_result(self, handle, request, images):
        list_digest = digest_of("list")
        repositories = [f"{REPO}:1.0-1", f"{REPO}@{list_digest}"]
        for image in images:
            image.repositories = repositories
            image.tags = ["1.0-1"]
        return BuildResult(
            Outcome.SUCCEEDED,
            repositories=repositories,
            platforms=[image.arch for image in images],
            images=images,
            build_name=handle,
            extra={"index_digests": {LIST_MEDIA_TYPE: list_digest}, "unique_tags": []},
        )

    def cancel(self, handle):
        self.cancelled.append(handle)

    def cleanup(self, handle):
        pass

    def lookup(self, handle):
        return handle in self.builds

    def withdraw_images(self, images):
        self.withdrawn.extend(image.arch for image in images)


class ArchHosts:
    """The kojid of each arch host: runs arch subtasks, wakes the waiting parent."""

    def __init__(self, hub, kojid, parent_host: str = "builder") -> None:
        self.hub = hub
        self.kojid = kojid
        self.sessions = {
            "builder": hub.session("builder"),
            "builder-arm": hub.session("builder-arm"),
        }
        self.parent_session = hub.session(parent_host)
        self.ran = []
        self.errors = []
        self.before_run = None
        #: called once with the parent's task info when it waits for its subtasks
        self.on_waiting = None
        self._stop = threading.Event()
        self._main_pid = os.getpid()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._previous = signal.signal(signal.SIGUSR2, lambda *_: None)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        signal.signal(signal.SIGUSR2, self._previous)

    def _serve(self):
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception as error:  # shown by the test that needed the subtask
                self.errors.append(error)
            time.sleep(0.02)

    def _poll(self):
        if self.on_waiting is not None:
            waiting = [t for t in self.parent_session.host.getHostTasks() if t["waiting"]]
            if waiting:
                self.on_waiting, action = None, self.on_waiting
                action(waiting[0])
        for host, session in self.sessions.items():
            for task in session.host.getTasks():
                if task["method"] != "buildContainerArch" or task["state"] != 0:
                    continue
                if not session.host.openTask(task["id"]):
                    continue
                if self.before_run:
                    self.before_run(task)
                info = session.getTaskInfo(task["id"], request=True)
                cls = self.kojid.handlers[info["method"]]
                handler = cls(
                    task["id"], info["method"], info["request"], session, self.kojid.options
                )
                self.ran.append((host, task["arch"], task["id"]))
                report_result(session, handler)
        for task in self.parent_session.host.getHostTasks():
            if task.get("alert"):
                os.kill(self._main_pid, signal.SIGUSR2)


@pytest.fixture
def hub(sandbox_hub):
    sandbox_hub.add_user("builder-arm", "builder-arm", host=True, arches="aarch64")
    sandbox_hub.add_host_to_channel("builder-arm", "container")
    with sandbox_hub.db.write() as cnx:
        cnx.execute("UPDATE tags SET arches = ? WHERE name = 'demo-build'", (" ".join(ARCHES),))
    return sandbox_hub


@pytest.fixture
def kojid(hub, tmp_path, monkeypatch):
    config = write_builder_config(str(tmp_path / "builder.conf"), "local")
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    hub.grant_cg_access("builder", "koji-containerbuild")
    monkeypatch.setattr(multiarch, "builder_arch", lambda config: "x86_64")
    return Kojid(hub, str(tmp_path / "kojid-work"))


@pytest.fixture
def backend(kojid, tmp_path, monkeypatch):
    fake = ArchBackend(str(tmp_path))
    monkeypatch.setattr(taskrun, "create_backend", lambda name, settings: fake)
    return fake


@pytest.fixture
def source(git_sources):
    return git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})


def children(kojid, task_id):
    return sorted(kojid.session.getTaskChildren(task_id), key=lambda t: t["id"])


def build_state(kojid, nvr=NVR):
    build = kojid.session.getBuild(nvr)
    return build and koji.BUILD_STATES[build["state"]]


def run_parent(hub, kojid, task_id):
    with ArchHosts(hub, kojid) as hosts:
        state = kojid.report(task_id)
    assert not hosts.errors
    return state, hosts


def test_parent_makes_one_subtask_per_arch_with_arch_and_label(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    made = [
        (t["method"], t["arch"], t["label"], t["channel_id"], t["owner"])
        for t in children(kojid, parent)
    ]
    info = kojid.session.getTaskInfo(parent)
    assert made == [
        ("buildContainerArch", arch, arch, info["channel_id"], info["owner"]) for arch in ARCHES
    ]


def test_subtask_arguments_are_source_target_arch_and_the_reserved_release(
    hub, kojid, backend, source
):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    requests = [kojid.session.getTaskRequest(t["id"]) for t in children(kojid, parent)]
    assert requests == [[source, "demo", arch, {**OPTS, "release": "1"}] for arch in ARCHES]


def test_each_arch_subtask_runs_on_the_host_of_its_arch(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    _, hosts = run_parent(hub, kojid, parent)
    assert sorted((host, arch) for host, arch, _ in hosts.ran) == [
        ("builder", "x86_64"),
        ("builder-arm", "aarch64"),
    ]


def test_arch_subtasks_build_one_arch_each_pushed_by_digest(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    built = sorted((r.platforms, r.push_by_digest, r.release) for r in backend.requests)
    assert built == [(["aarch64"], True, "1"), (["x86_64"], True, "1")]


def test_two_arch_build_ends_as_one_koji_build(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    state, _ = run_parent(hub, kojid, parent)
    result = kojid.session.getTaskResult(parent)
    assert (state, result["koji_builds"], build_state(kojid)) == (
        "CLOSED",
        [str(kojid.session.getBuild(NVR)["id"])],
        "COMPLETE",
    )


def test_result_lists_the_platforms_and_the_list_repositories(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    result = kojid.session.getTaskResult(parent)
    assert (result["platforms"], result["repositories"]) == (
        list(ARCHES),
        [f"{REPO}:1.0-1", f"{REPO}@{digest_of('list')}"],
    )


def test_the_list_joins_the_images_the_subtasks_returned(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    [(_, images)] = backend.lists
    assert [(i.arch, i.digests) for i in images] == [
        (arch, {IMAGE_MEDIA_TYPE: digest_of(f"manifest {arch}")}) for arch in ARCHES
    ]


def test_imported_build_has_one_image_output_and_one_buildroot_per_arch(
    hub, kojid, backend, source
):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    build = kojid.session.getBuild(NVR)
    images = kojid.session.listArchives(buildID=build["id"], type="image")
    assert sorted((a["extra"]["image"]["arch"], a["buildroot_id"]) for a in images) == [
        ("aarch64", 2),
        ("x86_64", 1),
    ]


def test_import_metadata_names_each_arch_buildroot(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    metadata_files = [
        os.path.join(root, name)
        for root, _, files in os.walk(os.path.join(hub.workdir, "containerbuild-import"))
        for name in files
        if name == "metadata.json"
    ]
    with open(metadata_files[0], encoding="utf-8") as handle:
        metadata = json.load(handle)
    assert [br["container"]["arch"] for br in metadata["buildroots"]] == list(ARCHES)


def test_each_arch_build_log_is_imported_with_the_build(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    build = kojid.session.getBuild(NVR)
    logs = {entry["name"] for entry in kojid.session.getBuildLogs(build["id"])}
    assert {"x86_64.log", "aarch64.log"} <= logs


def test_one_arch_failing_fails_the_parent_naming_arch_and_subtask(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    parent = kojid.submit(source, OPTS)
    state, _ = run_parent(hub, kojid, parent)
    failed = next(t["id"] for t in children(kojid, parent) if t["arch"] == "aarch64")
    handle = next(h for h, (_, r, _) in backend.builds.items() if r.platforms == ["aarch64"])
    fault = kojid.session.getTaskResult(parent, raise_fault=False)
    assert (state, fault["faultString"]) == (
        "FAILED",
        f"The aarch64 build (task {failed}) failed: The container build {handle} failed: "
        "RUN exited with 1; the other arches were cancelled and no tag was pushed.",
    )


def test_one_arch_failing_refunds_the_reservation(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert build_state(kojid) == "FAILED"


def test_one_arch_failing_starts_no_image_list(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert backend.lists == []


def test_one_arch_failing_cancels_the_arch_still_running(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    parent = kojid.submit(source, OPTS)
    with ArchHosts(hub, kojid) as hosts:
        del hosts.sessions["builder"]  # the x86_64 host is busy: its subtask waits
        state = kojid.report(parent)
    states = {t["arch"]: koji.TASK_STATES[t["state"]] for t in children(kojid, parent)}
    assert (state, states) == ("FAILED", {"x86_64": "CANCELED", "aarch64": "FAILED"})


def test_one_arch_failing_withdraws_the_images_of_the_others(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    x86 = next(t for t in children(kojid, parent) if t["arch"] == "x86_64")
    assert (koji.TASK_STATES[x86["state"]], backend.withdrawn) == ("CLOSED", ["x86_64"])


def test_a_refunded_multiarch_nvr_builds_again(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    run_parent(hub, kojid, kojid.submit(source, OPTS))
    backend.failing_arch = None
    state, _ = run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert (state, build_state(kojid)) == ("CLOSED", "COMPLETE")


def test_single_arch_build_of_this_hosts_arch_makes_no_subtask(hub, kojid, backend, source):
    parent = kojid.submit(source, {**OPTS, "scratch": True, "arch_override": "x86_64"})
    state, _ = run_parent(hub, kojid, parent)
    assert (state, children(kojid, parent), [r.push_by_digest for r in backend.requests]) == (
        "CLOSED",
        [],
        [False],
    )


def test_single_arch_build_of_another_arch_runs_as_its_subtask(hub, kojid, backend, source):
    parent = kojid.submit(source, {**OPTS, "scratch": True, "arch_override": "aarch64"})
    state, hosts = run_parent(hub, kojid, parent)
    assert (state, [(host, arch) for host, arch, _ in hosts.ran]) == (
        "CLOSED",
        [("builder-arm", "aarch64")],
    )


def test_arch_subtask_made_outside_a_parent_is_refused(hub, kojid, backend, source):
    task_id = hub.session("admin").makeTask(
        "buildContainerArch", [source, "demo", "x86_64", OPTS], channel="container", arch="x86_64"
    )
    assert kojid.report(task_id) == "FAILED"


def stop_when_waiting(hub, kojid, parent, cancel: bool):
    """Run the parent until it waits, then signal it as kojid does (after a cancel or not)."""

    def stop(task):
        if cancel:
            hub.session("alice").cancelTask(parent)
        os.kill(os.getpid(), signal.SIGINT)

    with ArchHosts(hub, kojid) as hosts:
        hosts.sessions = {}  # no arch host free: the subtasks wait
        hosts.on_waiting = stop
        with pytest.raises(KeyboardInterrupt):
            kojid.report(parent)


def test_kojid_stopping_the_waiting_parent_keeps_its_reservation(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=False)
    states = [koji.TASK_STATES[t["state"]] for t in children(kojid, parent)]
    assert (build_state(kojid), states) == ("BUILDING", ["FREE", "FREE"])


def test_rerun_of_a_stopped_parent_builds_each_arch_once(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=False)
    first = [t["id"] for t in children(kojid, parent)]
    state, _ = run_parent(hub, kojid, parent)
    assert (state, [t["id"] for t in children(kojid, parent)], len(backend.requests)) == (
        "CLOSED",
        first,
        2,
    )


def test_cancelling_the_waiting_parent_cancels_its_subtasks_and_the_nvr(
    hub, kojid, backend, source
):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=True)
    states = [koji.TASK_STATES[t["state"]] for t in children(kojid, parent)]
    assert (build_state(kojid), states) == ("CANCELED", ["CANCELED", "CANCELED"])


def test_parent_log_names_the_task_of_each_arch(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    text = kojid.session.downloadTaskOutput(parent, "osbs-build.log").decode()
    tasks = {t["arch"]: t["id"] for t in children(kojid, parent)}
    assert [line for line in text.splitlines() if "built by task" in line] == [
        f"{arch}: built by task {tasks[arch]}; its log: koji watch-logs {tasks[arch]}"
        for arch in ARCHES
    ]


def test_nvr_of_a_dead_parent_is_refunded_by_the_next_build(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=False)
    fault = koji.xmlrpcplus.Fault(1000, "The task process was killed.")
    kojid.session.host.failTask(parent, koji.xmlrpcplus.dumps(fault))  # as the worker does
    state, _ = run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert (state, build_state(kojid)) == ("CLOSED", "COMPLETE")
