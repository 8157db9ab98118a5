"""What ends the sandbox worker's sleep before its poll interval (sandbox/kojid/wakeup.py).

The worker runs as the sandbox runs it, in its own process with a wake-up
pipe and an hourly poll: a task made on the hub, or a task child's exit,
must make it act at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import koji
import pytest

from tests.worker_harness import FAKE_PLUGIN, REPO_ROOT, finished, state_of, submit

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
