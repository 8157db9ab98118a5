"""The sandbox worker runs task handlers the way kojid does.

A tiny fake builder plugin file (tests/worker_harness.py) stands in for the
real one; the worker talks to the sandbox hub over real XML-RPC and runs each
task in its own process.
"""

from __future__ import annotations

import os
import signal
import time

import koji
import pytest

from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.worker import Worker, kojid_options
from tests.worker_harness import FAKE_PLUGIN, REPO_ROOT, finished, state_of, submit

HOST_PASSWORD = "builder"


#: kojid's sequence, faster: one SIGINT and one SIGTERM per process, then SIGKILL.
FAST_KILL = ((signal.SIGINT, 0.4, 0.5), (signal.SIGTERM, 0.4, 0.5), (signal.SIGKILL, 3.0, 0.5))


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


def poll_until(worker: Worker, condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.poll_once()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


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
