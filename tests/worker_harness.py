"""The sandbox worker's test harness: a fake builder plugin file and a hub user.

Shared by tests/test_worker.py and tests/test_worker_wakeup.py: FAKE_PLUGIN
(written into tmp_path) stands in for the real builder plugin, ``markers``
is where its handlers leave their traces, ``alice`` submits tasks, and the
helpers read a task's state back.
"""

from __future__ import annotations

import os
import textwrap

import koji
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


FAKE_PLUGIN = textwrap.dedent(
    '''
    """A fake builder plugin: what it does depends on the source URL's path."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import koji
    from koji.tasks import BaseTaskHandler

    def markers():
        return os.environ["FAKE_PLUGIN_MARKERS"]


    def record(text):
        with open(os.path.join(markers(), "events"), "a") as handle:
            handle.write(text + "\\n")


    def stubborn(name):
        """Record SIGINT and SIGTERM but keep running (only SIGKILL stops it)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda num, _frame: record(f"{name} {signal.Signals(num).name}"))


    class FakeContainerTask(BaseTaskHandler):
        Methods = ["buildContainer"]

        def handler(self, src, target, opts=None):
            what = src.split("#")[0].rsplit("/", 1)[1]
            record(f"run {what} {os.getpid()} {os.path.isdir(self.workdir)}")
            sinfo = self.session.sinfo
            record(f"session {sinfo['session-id']} {sinfo['session-key']}")
            if what == "ok":
                return {"repositories": [f"registry/{target}:1"], "src": src,
                        "topdir": self.options.topdir}
            if what == "parent":
                child = self.session.host.subtask(
                    "buildContainer", ["git://127.0.0.1/ok#0123abc", target, opts], self.id,
                    label="child",
                )
                results = self.wait([child], all=True, failany=True)
                return {"child": results[child]["src"]}
            if what == "vanish":
                time.sleep(1)  # the worker is asleep by now
                os._exit(3)  # dies without reporting a result
            if what == "builderror":
                raise koji.BuildError("The Dockerfile has no name label.")
            if what == "crash":
                raise ValueError("internal trouble")
            if what == "once-then-ok":
                flag = os.path.join(markers(), "ran-once")
                if not os.path.exists(flag):
                    open(flag, "w").close()
                    time.sleep(600)
                return {"second_run": True}
            if what == "stubborn":
                child = subprocess.Popen([sys.executable, "-c", CHILD])
                record(f"pids {os.getpid()} {child.pid}")
                stubborn("parent")
                record("parent ready")
                while True:
                    time.sleep(0.05)
            raise koji.GenericError(f"unknown fake {what}")


    CHILD = (
        "import os, signal, time\\n"
        "markers = os.environ['FAKE_PLUGIN_MARKERS']\\n"
        "def rec(num, _f):\\n"
        "    with open(os.path.join(markers, 'events'), 'a') as h:\\n"
        "        h.write('child ' + signal.Signals(num).name + '\\\\n')\\n"
        "signal.signal(signal.SIGINT, rec)\\n"
        "signal.signal(signal.SIGTERM, rec)\\n"
        "with open(os.path.join(markers, 'events'), 'a') as h:\\n"
        "    h.write('child ready\\\\n')\\n"
        "while True:\\n"
        "    time.sleep(0.05)\\n"
    )
    '''
)


@pytest.fixture
def markers(tmp_path):
    path = tmp_path / "markers"
    path.mkdir()
    return path


@pytest.fixture
def alice(hub_server):
    session = koji.ClientSession(hub_server.url, {"user": "alice", "password": "alice"})
    session.login()
    return session


def submit(session, what: str) -> int:
    return session.buildContainer(
        f"git://127.0.0.1/{what}#0123abc", "demo", {"git_branch": "main"}
    )


def state_of(session, task_id: int) -> str:
    return koji.TASK_STATES[session.getTaskInfo(task_id)["state"]]


def finished(session, task_id):
    return lambda: state_of(session, task_id) in ("CLOSED", "FAILED", "CANCELED")
