"""The sandbox worker runs task handlers the way kojid does.

A tiny fake builder plugin file (written into tmp_path) stands in for the
real one; the worker talks to the sandbox hub over real XML-RPC and runs
each task in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import koji
import pytest

from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.worker import Worker, kojid_options

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_PASSWORD = "builder"

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

#: kojid's sequence, faster: one SIGINT and one SIGTERM per process, then SIGKILL.
FAST_KILL = ((signal.SIGINT, 0.4, 0.5), (signal.SIGTERM, 0.4, 0.5), (signal.SIGKILL, 3.0, 0.5))


@pytest.fixture
def markers(tmp_path):
    path = tmp_path / "markers"
    path.mkdir()
    return path


@pytest.fixture
def make_worker(tmp_path, hub_server, sandbox_hub, markers):
    plugin = tmp_path / "plugins" / "fake_builder.py"
    plugin.parent.mkdir()
    plugin.write_text(FAKE_PLUGIN)
    env = dict(os.environ)
    env["FAKE_PLUGIN_MARKERS"] = str(markers)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    workers = []

    def make(user: str = "builder", password: str = HOST_PASSWORD) -> Worker:
        """A worker logged in as host ``user`` (each host its own work and log dirs)."""
        suffix = "" if user == "builder" else f"-{user}"
        options = kojid_options(
            workdir=str(tmp_path / f"work{suffix}"),
            topdir=sandbox_hub.topdir,
            allowed_scms="*:*",
        )
        worker = Worker(
            hub_server.url, user, password, str(plugin), options,
            str(tmp_path / f"logs{suffix}"), poll_interval=0.05, kill_sequence=FAST_KILL,
            env=env,
        )  # fmt: skip
        worker.connect()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.shutdown()


@pytest.fixture
def alice(hub_server):
    session = koji.ClientSession(hub_server.url, {"user": "alice", "password": "alice"})
    session.login()
    return session


def submit(session, what: str) -> int:
    return session.buildContainer(
        f"git://127.0.0.1/{what}#0123abc", "demo", {"git_branch": "main"}
    )


def poll_until(worker: Worker, condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.poll_once()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def state_of(session, task_id: int) -> str:
    return koji.TASK_STATES[session.getTaskInfo(task_id)["state"]]


def finished(session, task_id):
    return lambda: state_of(session, task_id) in ("CLOSED", "FAILED", "CANCELED")


def events(markers) -> list[str]:
    path = markers / "events"
    return path.read_text().splitlines() if path.exists() else []


def test_result_is_reported_with_close_task(make_worker, alice):
    worker = make_worker()
    task_id = submit(alice, "ok")
    poll_until(worker, finished(alice, task_id))
    assert state_of(alice, task_id) == "CLOSED"
    result = alice.getTaskResult(task_id)
    assert result["repositories"] == ["registry/demo:1"]
    assert result["src"] == "git://127.0.0.1/ok#0123abc"


def test_handler_gets_kojid_options_and_a_fresh_workdir(make_worker, alice, sandbox_hub, markers):
    worker = make_worker()
    task_id = submit(alice, "ok")
    poll_until(worker, finished(alice, task_id))
    assert alice.getTaskResult(task_id)["topdir"] == sandbox_hub.topdir
    run_line = next(line for line in events(markers) if line.startswith("run ok"))
    assert run_line.endswith("True")  # BaseTaskHandler.run made the workdir
    workdir = os.path.join(worker.options.workdir, koji.pathinfo.taskrelpath(task_id))
    assert not os.path.exists(workdir)


def test_each_task_runs_in_its_own_process(make_worker, alice, markers):
    worker = make_worker()
    first, second = submit(alice, "ok"), submit(alice, "ok")
    poll_until(worker, lambda: finished(alice, first)() and finished(alice, second)())
    pids = {line.split()[2] for line in events(markers) if line.startswith("run ok")}
    assert len(pids) == 2
    assert str(os.getpid()) not in pids


def test_an_aarch64_task_is_run_by_the_aarch64_host_only(make_worker, sandbox_hub, alice):
    sandbox_hub.add_user("builder-arm", "arm", host=True, arches="aarch64")
    sandbox_hub.add_host_to_channel("builder-arm", "container")
    native, arm = make_worker(), make_worker("builder-arm", "arm")
    task_id = sandbox_hub.session("admin").makeTask(
        "buildContainer", ["git://127.0.0.1/ok#0123abc", "demo", {}], channel="container",
        arch="aarch64",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not finished(alice, task_id)() and time.monotonic() < deadline:
        native.poll_once()  # polled first: it would take the task if the hub offered it
        arm.poll_once()
        time.sleep(0.05)
    info = alice.getTaskInfo(task_id)
    assert (koji.TASK_STATES[info["state"]], info["host_id"]) == ("CLOSED", arm.host_id)


def test_koji_error_fails_the_task_with_its_fault(make_worker, alice):
    worker = make_worker()
    task_id = submit(alice, "builderror")
    poll_until(worker, finished(alice, task_id))
    assert state_of(alice, task_id) == "FAILED"
    with pytest.raises(koji.BuildError, match=r"The Dockerfile has no name label\."):
        alice.getTaskResult(task_id)


def test_other_exception_fails_the_task_with_the_traceback(make_worker, alice):
    worker = make_worker()
    task_id = submit(alice, "crash")
    poll_until(worker, finished(alice, task_id))
    # Like kojid: faultCode 1, which no koji exception class claims.
    with pytest.raises(koji.Fault, match="ValueError: internal trouble"):
        alice.getTaskResult(task_id)


def test_cancel_signals_the_process_tree_deepest_first(make_worker, alice, markers, monkeypatch):
    worker = make_worker()
    sent = []
    real_kill = os.kill

    def recording_kill(pid, sig):
        sent.append((pid, sig))
        real_kill(pid, sig)

    monkeypatch.setattr(proctree.os, "kill", recording_kill)
    task_id = submit(alice, "stubborn")
    pids_line = poll_until(
        worker, lambda: next((e for e in events(markers) if e.startswith("pids")), None)
    )
    parent, child = (int(p) for p in pids_line.split()[1:])
    # both have installed their signal handlers
    poll_until(worker, lambda: {"parent ready", "child ready"} <= set(events(markers)))
    tree = proctree.process_tree(parent)
    alice.cancelTask(task_id)
    poll_until(worker, lambda: not worker.running)
    assert sent == [
        (child, signal.SIGINT), (parent, signal.SIGINT),
        (child, signal.SIGTERM), (parent, signal.SIGTERM),
        (child, signal.SIGKILL), (parent, signal.SIGKILL),
    ]  # fmt: skip
    received = {
        e for e in events(markers) if e.split()[0] in ("parent", "child") and "ready" not in e
    }
    assert received == {"child SIGINT", "parent SIGINT", "child SIGTERM", "parent SIGTERM"}
    assert not any(proctree.is_alive(proc) for proc in tree)
    assert state_of(alice, task_id) == "CANCELED"


def test_restart_frees_open_tasks_and_runs_them_again(make_worker, alice, markers):
    first = make_worker()
    task_id = submit(alice, "once-then-ok")
    poll_until(first, lambda: (markers / "ran-once").exists())
    assert state_of(alice, task_id) == "OPEN"
    # A crash: the worker and its task process die without telling the hub.
    for task in first.running.values():
        proctree.terminate_tree(task.process.pid, ((signal.SIGKILL, 3.0, 0.1),), task.process.poll)
    first.running.clear()

    second = make_worker()
    assert state_of(alice, task_id) == "FREE"
    poll_until(second, finished(alice, task_id))
    assert state_of(alice, task_id) == "CLOSED"
    assert alice.getTaskResult(task_id) == {"second_run": True}
    assert len([e for e in events(markers) if e.startswith("run once-then-ok")]) == 2


def test_clean_stop_kills_running_tasks_and_frees_them(make_worker, alice, markers):
    worker = make_worker()
    task_id = submit(alice, "once-then-ok")
    poll_until(worker, lambda: (markers / "ran-once").exists())
    tree = proctree.process_tree(next(iter(worker.running.values())).process.pid)
    assert tree
    worker.shutdown()
    assert not any(proctree.is_alive(proc) for proc in tree)
    assert state_of(alice, task_id) == "FREE"


def test_restart_after_kill_9_stops_the_old_task_process_before_the_rerun(
    make_worker, alice, markers
):
    first = make_worker()
    task_id = submit(alice, "once-then-ok")
    poll_until(first, lambda: (markers / "ran-once").exists())
    old_tree = proctree.process_tree(next(iter(first.running.values())).process.pid)
    # kill -9 of the worker alone: it tells nobody, its task process lives on
    first.running.clear()

    second = make_worker()
    assert not any(proctree.is_alive(proc) for proc in old_tree)
    assert state_of(alice, task_id) == "FREE"
    poll_until(second, finished(alice, task_id))
    assert alice.getTaskResult(task_id) == {"second_run": True}
    assert len([e for e in events(markers) if e.startswith("run once-then-ok")]) == 2


def test_cancelled_task_session_is_expired_like_kojid_cleanup_task(
    make_worker, alice, markers, hub_server
):
    worker = make_worker()
    task_id = submit(alice, "stubborn")  # only SIGKILL ends it: it cannot log out itself
    poll_until(worker, lambda: any(e.startswith("pids") for e in events(markers)))
    _, session_id, key = next(e for e in events(markers) if e.startswith("session")).split()
    task_session = koji.ClientSession(hub_server.url)
    task_session.setSession({"session-id": int(session_id), "session-key": key})
    assert task_session.getLoggedInUser()["name"] == "builder"
    alice.cancelTask(task_id)
    poll_until(worker, lambda: not worker.running)
    with pytest.raises(koji.AuthError):
        task_session.getLoggedInUser()


def test_a_task_waiting_for_its_subtask_is_woken_when_it_finished(make_worker, alice):
    worker = make_worker()
    task_id = submit(alice, "parent")
    poll_until(worker, finished(alice, task_id))
    assert (state_of(alice, task_id), alice.getTaskResult(task_id)) == (
        "CLOSED",
        {"child": "git://127.0.0.1/ok#0123abc"},
    )


# ---------------------------------------------------------------- waking up


@pytest.fixture
def worker_process(tmp_path, hub_server, sandbox_hub, markers):
    """The worker as the sandbox runs it (its own process, ``--wake-fd``), polling hourly.

    The hub writes to the wake-up pipe whenever it makes, frees or cancels a
    task; with a one-hour poll interval only such an event, or a task
    child's exit, can make the worker act within the test.
    """
    plugin = tmp_path / "plugins" / "fake_builder.py"
    plugin.parent.mkdir()
    plugin.write_text(FAKE_PLUGIN)
    options = tmp_path / "kojid.json"
    options.write_text(json.dumps({"workdir": str(tmp_path / "work"),
                                   "topdir": sandbox_hub.topdir}))  # fmt: skip
    env = dict(os.environ, FAKE_PLUGIN_MARKERS=str(markers), KOJI_SANDBOX_HOST_PASSWORD="builder")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    sandbox_hub.task_listeners.append(lambda: os.write(wake_write, b"\0"))
    polled = threading.Event()
    get_tasks = sandbox_hub.exports["host.getTasks"]

    def noted_get_tasks(*args, **kwargs):
        polled.set()
        return get_tasks(*args, **kwargs)

    sandbox_hub.exports["host.getTasks"] = noted_get_tasks
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "koji_containerbuild.sandbox.kojid.worker",
         "--server", hub_server.url, "--user", "builder", "--plugin", str(plugin),
         "--options", str(options), "--log-dir", str(tmp_path / "logs"),
         "--poll-interval", "3600", "--wake-fd", str(wake_read)],
        env=env, pass_fds=(wake_read,), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    os.close(wake_read)
    # its first poll found nothing: it sleeps for an hour now
    assert polled.wait(60), "the worker never polled"
    yield process
    sandbox_hub.task_listeners.clear()
    process.terminate()
    process.wait(30)
    os.close(wake_write)
    log.close()


def wait_until(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_a_task_made_on_the_hub_wakes_the_worker_before_its_poll_interval(worker_process, alice):
    task_id = submit(alice, "ok")
    wait_until(finished(alice, task_id))
    assert state_of(alice, task_id) == "CLOSED"


def test_a_task_child_exit_wakes_the_worker_to_fail_its_task(worker_process, alice):
    task_id = submit(alice, "vanish")
    wait_until(finished(alice, task_id))
    info = alice.getTaskInfo(task_id)
    assert koji.TASK_STATES[info["state"]] == "FAILED"
    with pytest.raises(koji.GenericError, match="exited with status 3 without reporting"):
        alice.getTaskResult(task_id)
