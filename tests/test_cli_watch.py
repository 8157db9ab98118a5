"""Watching a submitted task and printing its result (koji_containerbuild/cli/watch.py).

Run through the real `koji` command (tests/cli_harness.py). A test that needs a
finished task plays the builder itself through the hub's host API (openTask,
uploadFile, closeTask/failTask) or cancels the task.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time

import koji
import koji.xmlrpcplus

from tests.cli_harness import SOURCE, WEBURL, hub_tasks


class StandInBuilder:
    """Plays kojid for one task through the hub's host API, as the `builder` host."""

    def __init__(self, hub):
        self.hub = hub

    def wait_for_task(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = self.hub.call("listTasks", [{"state": [koji.TASK_STATES["FREE"]]}], {})
            if tasks:
                return tasks[0]
            time.sleep(0.05)
        raise AssertionError("the CLI created no task")

    def _host(self, method: str, *args):
        return self.hub.call(f"host.{method}", list(args), session_user="builder")

    def open(self, task_id: int) -> None:
        assert self._host("openTask", task_id) is not None

    def upload(self, task_id: int, name: str, data: bytes, offset: int = 0) -> None:
        encoded = base64.b64encode(data).decode()
        digest = hashlib.md5(data).hexdigest()
        path = koji.pathinfo.taskrelpath(task_id)
        assert self.hub.call(
            "uploadFile",
            [path, name, len(data), digest, offset, encoded],
            session_user="builder",
        )

    def close(self, task_id: int, result) -> None:
        response = koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        self._host("closeTask", task_id, response)

    def fail(self, task_id: int, error: Exception) -> None:
        fault = koji.xmlrpcplus.Fault(getattr(error, "faultCode", 1000), str(error))
        self._host("failTask", task_id, koji.xmlrpcplus.dumps(fault))


def _run_with_builder(koji_cli, hub, act, *flags):
    """Run container-build with `flags` while `act(builder, task_id)` finishes the task."""
    process = koji_cli.start("container-build", "demo", SOURCE, "--git-branch=main", *flags)
    builder = StandInBuilder(hub)
    failure = []

    def play():
        try:
            task = builder.wait_for_task()
            act(builder, task["id"])
        except BaseException as exc:  # reported in the test thread
            failure.append(exc)

    thread = threading.Thread(target=play)
    thread.start()
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        thread.join(30)
    if failure:
        raise failure[0]
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


SUCCESS = {
    "repositories": ["127.0.0.1:5000/demo-image:1.0-1", "127.0.0.1:5000/demo-image@sha256:ab"],
    "koji_builds": [],
    "user_warnings": ["Base image is deprecated"],
    "build_name": "demo-image-build-1",
}


def _reserve_build(hub) -> int:
    hub.grant_cg_access("builder", "koji-containerbuild")
    reservation = hub.call(
        "CGInitBuild",
        ["koji-containerbuild", {"name": "demo-image", "version": "1.0", "release": "1"}],
        session_user="builder",
    )
    return reservation["build_id"]


def _succeed_with_build(build_id: int):
    """An `act` that closes the task as a success that made Koji build `build_id`."""

    def act(builder, task_id):
        builder.open(task_id)
        builder.close(task_id, dict(SUCCESS, koji_builds=[str(build_id)]))

    return act


def test_successful_task_prints_result_and_exits_zero(koji_cli, sandbox_hub):
    build_id = _reserve_build(sandbox_hub)
    result = _run_with_builder(koji_cli, sandbox_hub, _succeed_with_build(build_id), "--wait")
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:5000/demo-image:1.0-1" in result.stdout
    assert f"demo-image-1.0-1  {WEBURL}/buildinfo?buildID={build_id}" in result.stdout
    assert "User warnings:" in result.stdout
    assert "Base image is deprecated" in result.stdout
    assert "build_name: demo-image-build-1" in result.stdout


def test_failed_task_exits_one_with_the_reason(koji_cli, sandbox_hub):
    def act(builder, task_id):
        builder.open(task_id)
        builder.fail(task_id, koji.BuildError("Dockerfile has no 'name' label: add one."))

    result = _run_with_builder(koji_cli, sandbox_hub, act, "--wait")
    assert result.returncode == 1
    assert "Dockerfile has no 'name' label" in result.stdout


def test_cancelled_task_exits_one(koji_cli, sandbox_hub):
    def act(builder, task_id):
        sandbox_hub.call("cancelTask", [task_id], session_user="alice")

    result = _run_with_builder(koji_cli, sandbox_hub, act, "--wait")
    assert result.returncode == 1
    assert "canceled" in result.stdout


def test_json_output_of_a_successful_build_with_koji_build(koji_cli, sandbox_hub):
    build_id = _reserve_build(sandbox_hub)
    result = _run_with_builder(
        koji_cli, sandbox_hub, _succeed_with_build(build_id), "--wait", "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["state"] == "CLOSED"
    assert data["succeeded"] is True
    assert data["repositories"] == SUCCESS["repositories"]
    assert data["user_warnings"] == SUCCESS["user_warnings"]
    assert data["koji_builds"] == [
        {
            "id": build_id,
            "nvr": "demo-image-1.0-1",
            "url": f"{WEBURL}/buildinfo?buildID={build_id}",
        }
    ]
    assert data["task_url"] == f"{WEBURL}/taskinfo?taskID={data['task_id']}"
    assert "Created task" in result.stderr


def test_json_output_of_a_failed_build(koji_cli, sandbox_hub):
    def act(builder, task_id):
        builder.open(task_id)
        builder.fail(task_id, koji.BuildError("RUN step failed"))

    result = _run_with_builder(koji_cli, sandbox_hub, act, "--wait", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["state"] == "FAILED"
    assert data["succeeded"] is False
    assert "BuildError" in data["error"] and "RUN step failed" in data["error"]


def test_json_with_nowait_prints_the_task(koji_cli, sandbox_hub):
    result = koji_cli.run(
        "container-build", "demo", SOURCE, "--git-branch=main", "--nowait", "--json"
    )
    assert result.returncode == 0, result.stderr
    (task,) = hub_tasks(sandbox_hub)
    assert json.loads(result.stdout) == {
        "task_id": task["id"],
        "task_url": f"{WEBURL}/taskinfo?taskID={task['id']}",
    }


def test_follow_logs_prints_uploaded_task_output(koji_cli, sandbox_hub, monkeypatch):
    first_part_read = threading.Event()
    dispatch = sandbox_hub.dispatch

    def noting_log_reads(method, args, kwargs, session):
        answer = dispatch(method, args, kwargs, session)
        if method == "downloadTaskOutput" and "x86_64.log" in list(args) and answer:
            first_part_read.set()
        return answer

    monkeypatch.setattr(sandbox_hub, "dispatch", noting_log_reads)

    def act(builder, task_id):
        builder.open(task_id)
        builder.upload(task_id, "x86_64.log", b"STEP 1/2: FROM base\n")
        assert first_part_read.wait(30), "the CLI never read the first part of the log"
        builder.upload(task_id, "x86_64.log", b"STEP 2/2: RUN make\n", offset=20)
        builder.close(task_id, SUCCESS)

    result = _run_with_builder(koji_cli, sandbox_hub, act, "--follow-logs")
    assert result.returncode == 0, result.stderr
    assert "x86_64.log" in result.stdout
    assert "STEP 1/2: FROM base\nSTEP 2/2: RUN make\n" in result.stdout
    assert result.stdout.index("STEP 2/2") < result.stdout.index("demo-image:1.0-1")
