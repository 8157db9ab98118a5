"""Multi-arch builds' harness: an arch backend, the other kojid processes, the hub.

Shared by tests/test_builder_multiarch*.py (fixtures imported by name: the
OSBS harness's plugin has a ``backend`` fixture of its own). The builder
plugin's handlers run as kojid runs them: the parent in the test's (main)
thread, waiting in BaseTaskHandler.wait; ArchHosts, a stand-in for the other
kojid processes, takes each arch subtask on the host of that arch, runs its
handler, and wakes the waiting parent with SIGUSR2 when the hub alerts it,
as kojid's updateTasks does. ArchBackend stands in for buildah (the real one
is exercised in tests/e2e/test_e2e_multiarch.py).
"""

from __future__ import annotations

import hashlib
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
        # Every host's queue first, then the runs in host order: the parent makes
        # its subtasks in arch order, so the x86_64 one runs first whenever it
        # exists, also when the parent made both between two hosts' looks.
        queued = [
            (host, session, task)
            for host, session in self.sessions.items()
            for task in session.host.getTasks()
            if task["method"] == "buildContainerArch" and task["state"] == 0
        ]
        for host, session, task in queued:
            if not session.host.openTask(task["id"]):
                continue
            if self.before_run:
                self.before_run(task)
            info = session.getTaskInfo(task["id"], request=True)
            cls = self.kojid.handlers[info["method"]]
            handler = cls(task["id"], info["method"], info["request"], session, self.kojid.options)
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
