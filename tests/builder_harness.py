"""Run the real builder plugin file against the sandbox hub, as kojid would.

Shared by the builder tests: loads plugins/builder/builder_containerbuild.py
with koji's PluginTracker, registers its task handlers by ``Methods``,
gives them kojid-like options and the builder host's session, and takes
tasks the way kojid does (host.openTask) before running a handler.
"""

from __future__ import annotations

import optparse
import os
import signal
import threading
import time

import koji
import koji.plugin
import koji.tasks

PLUGIN_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "plugins", "builder")

DOCKERFILE = (
    "FROM scratch\n"
    "ENV APP_VERSION=1.0\n"
    "LABEL com.redhat.component=demo-image name=demo/image version=$APP_VERSION release=1\n"
)


def load_builder_handlers() -> dict[str, type]:
    """Load the plugin file the way kojid does (reloaded for every test)."""
    tracker = koji.plugin.PluginTracker(path=[PLUGIN_DIR])
    module = tracker.load("builder_containerbuild", reload=True)
    handlers = {}
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, koji.tasks.BaseTaskHandler):
            for method in value.Methods:
                handlers[method] = value
    return handlers


def kojid_options(topdir: str, workdir: str, **overrides) -> optparse.Values:
    values = {
        "topdir": topdir,
        "workdir": workdir,
        "topurl": None,
        "allowed_scms": "127.0.0.1*:*",
        "allowed_scms_use_config": True,
        "allowed_scms_use_policy": False,
        "use_fast_upload": True,
    }
    values.update(overrides)
    return optparse.Values(values)


def write_builder_config(path: str, backend: str = "osbs", **sections: dict) -> str:
    lines = ["[builder]", f"backend = {backend}", "log_flush_interval = 0.05", ""]
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


class Kojid:
    """Takes and runs tasks of the sandbox hub with the real plugin handlers."""

    def __init__(self, hub, workdir: str, **option_overrides) -> None:
        self.hub = hub
        self.session = hub.session("builder")
        self.options = kojid_options(hub.topdir, workdir, **option_overrides)
        self.handlers = load_builder_handlers()

    def submit(self, src: str, opts: dict | None = None, target: str = "demo") -> int:
        return self.hub.session("alice").buildContainer(src, target, opts or {})

    def submit_source(self, opts: dict, target: str = "demo") -> int:
        return self.hub.session("alice").buildSourceContainer(target, opts)

    def take(self, task_id: int) -> None:
        info = self.session.getTaskInfo(task_id)
        if info["state"] != koji.TASK_STATES["OPEN"]:
            self.session.host.openTask(task_id)

    def handler(self, task_id: int):
        info = self.session.getTaskInfo(task_id, request=True)
        cls = self.handlers[info["method"]]
        return cls(task_id, info["method"], info["request"], self.session, self.options)

    def run(self, task_id: int):
        """Take the task and run its handler; returns the result or raises its error."""
        self.take(task_id)
        return self.handler(task_id).run()

    def report(self, task_id: int) -> str:
        """Take and run the task and report it with closeTask/failTask as kojid does.

        Returns the task state the hub recorded.
        """
        from koji_containerbuild.sandbox.kojid.taskrun import report_result

        self.take(task_id)
        report_result(self.session, self.handler(task_id))
        return self.task_state(task_id)

    def task_state(self, task_id: int) -> str:
        return koji.TASK_STATES[self.session.getTaskInfo(task_id)["state"]]


def kojid_signal(signum: int = signal.SIGINT) -> None:
    """Send kojid's stop signal to this task process the way only its main thread takes it.

    In kojid the task's own threads block it (threadsignals.block_async_signals),
    so the kernel hands it to the main thread, whose handlers run. Here a
    pytest-xdist thread that blocks nothing could take it instead, and a main
    thread that waits without a timeout would never see it.
    """
    signal.pthread_kill(threading.main_thread().ident, signum)


def when(condition, action) -> threading.Thread:
    """Run ``action`` in a thread as soon as ``condition()`` holds.

    The tests hold their builds (a paused log, a held step) until the action
    comes, so the thread does not give up while a slow machine gets there;
    it stops after ten minutes only so a failed test's waiter does not poll
    on for good. A condition that reads what the task's thread is changing
    may raise (a dict that grew while it was read): that counts as not yet.
    """

    def waiter():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                ready = condition()
            except RuntimeError:
                ready = False
            if ready:
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    return thread


def import_image_build(hub, workdir: str, nvr: str, image_extra, cg_name="test-cg") -> dict:
    """Put a COMPLETE build into the hub through the CG API (log output only).

    ``image_extra`` becomes extra.image, as atomic-reactor writes it; None
    makes a build that is not an image build.
    """
    import hashlib
    import uuid

    name, version, release = nvr.rsplit("-", 2)
    hub.grant_cg_access("admin", cg_name)
    admin = hub.session("admin")
    reservation = admin.CGInitBuild(
        cg_name, {"name": name, "version": version, "release": release}
    )
    os.makedirs(workdir, exist_ok=True)
    log = os.path.join(workdir, f"{nvr}-build.log")
    with open(log, "wb") as handle:
        handle.write(b"built\n")
    upload_dir = f"test-import/{uuid.uuid4().hex}"
    admin.uploadWrapper(log, upload_dir, "build.log")
    now = time.time()
    metadata = {
        "metadata_version": 0,
        "build": {
            "build_id": reservation["build_id"],
            "name": name,
            "version": version,
            "release": release,
            "source": "git://example.com/x#abc",
            "start_time": now,
            "end_time": now,
            "extra": {} if image_extra is None else {"image": dict(image_extra)},
        },
        "buildroots": [
            {
                "id": 1,
                "content_generator": {"name": cg_name, "version": "1"},
                "container": {"type": "none", "arch": "x86_64"},
                "host": {"os": "linux", "arch": "x86_64"},
                "components": [],
                "tools": [],
            }
        ],
        "output": [
            {
                "buildroot_id": 1,
                "filename": "build.log",
                "filesize": 6,
                "arch": "noarch",
                "checksum": hashlib.md5(b"built\n").hexdigest(),
                "checksum_type": "md5",
                "type": "log",
            }
        ],
    }
    admin.CGImport(metadata, upload_dir, reservation["token"])
    return admin.getBuild(nvr)
