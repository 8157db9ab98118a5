"""The koji CLI commands, run through the real `koji` command against the sandbox hub.

The plugin is loaded the way users load it (--plugin-paths), the hub is the
sandbox hub with the real hub plugin, served over Koji's XML-RPC protocol. A
test that needs a finished task plays the builder itself through the hub's
host API (openTask, uploadFile, closeTask/failTask) or cancels the task.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import koji
import koji.xmlrpcplus
import pytest

REPO = Path(__file__).resolve().parent.parent
WEBURL = "http://koji.example.com/koji"
SOURCE = "git://git.example.com/containers/demo-image.git#0123abcd"
COMMANDS = ("container-build", "flatpak-build", "source-container-build")


def _koji_executable() -> str:
    beside = Path(sys.executable).parent / "koji"
    found = str(beside) if beside.exists() else shutil.which("koji")
    assert found, "the koji command (pip install koji) is needed for these tests"
    return found


class KojiCLI:
    """Runs the real koji command with this repository's plugin and library."""

    def __init__(self, tmp_path: Path, server_url: str):
        self.config = tmp_path / "koji.conf"
        self.config.write_text(
            "[sandbox]\n"
            f"server = {server_url}\n"
            f"weburl = {WEBURL}\n"
            "authtype = password\n"
            "poll_interval = 1\n"
        )
        self.env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(tmp_path))

    def command(self, args, user="alice"):
        return [
            _koji_executable(),
            "--config",
            str(self.config),
            "--profile",
            "sandbox",
            "--user",
            user,
            "--password",
            user,
            "--plugin-paths",
            str(REPO / "cli"),
            *args,
        ]

    def run(self, *args, user="alice", timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(args, user),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self, *args, user="alice") -> subprocess.Popen:
        return subprocess.Popen(
            self.command(args, user),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )


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


@pytest.fixture
def koji_cli(tmp_path, hub_server):
    return KojiCLI(tmp_path, hub_server.url)


@pytest.fixture
def offline_cli(tmp_path):
    # Nothing listens on port 9: a command that got as far as calling the hub fails.
    return KojiCLI(tmp_path, "http://127.0.0.1:9/kojihub")


def _tasks(hub) -> list[dict]:
    return hub.call("listTasks", [], {})


def _request(hub, task_id: int) -> list:
    return hub.call("getTaskInfo", [task_id], {"request": True})["request"]


def _run_with_builder(koji_cli, hub, args, act):
    """Start the CLI, let `act(builder, task_id)` finish the task, return the CLI's outcome."""
    process = koji_cli.start(*args)
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


# ---------------------------------------------------------------- help


def test_help_lists_the_three_commands_under_build(offline_cli):
    result = offline_cli.run("help", "build")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith(" ")}
    assert set(COMMANDS) <= listed


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_exits_zero(offline_cli, command):
    result = offline_cli.run(command, "--help")
    assert result.returncode == 0
    assert "--scratch" in result.stdout and "--json" in result.stdout


# ---------------------------------------------------------------- submissions


def test_submission_with_every_build_flag_stores_normalised_opts(koji_cli, sandbox_hub):
    result = koji_cli.run(
        "container-build",
        "demo",
        SOURCE,
        "--git-branch",
        "main",
        "--isolated",
        "--arch-override",
        "x86_64",
        "--release",
        "2",
        "--koji-parent-build",
        "base-image-1.0-1",
        "--repo-url",
        "http://repos.example.com/a.repo",
        "--repo-url",
        "https://repos.example.com/b.repo",
        "--replace-dependency",
        "gomod:example.com/x:v1.2.3",
        "--replace-dependency",
        "pip:requests:2.31.0",
        "--userdata",
        '{"team": "platform"}',
        "--operator-csv-modifications-url",
        "https://example.com/csv.json",
        "--signing-intent",
        "release",
        "--background",
        "--nowait",
        user="admin",
    )
    assert result.returncode == 0, result.stderr
    (task,) = _tasks(sandbox_hub)
    assert f"Created task: {task['id']}" in result.stdout
    assert f"{WEBURL}/taskinfo?taskID={task['id']}" in result.stdout
    assert _request(sandbox_hub, task["id"]) == [
        SOURCE,
        "demo",
        {
            "git_branch": "main",
            "isolated": True,
            "arch_override": "x86_64",
            "release": "2",
            "koji_parent_build": "base-image-1.0-1",
            "yum_repourls": [
                "http://repos.example.com/a.repo",
                "https://repos.example.com/b.repo",
            ],
            "dependency_replacements": ["gomod:example.com/x:v1.2.3", "pip:requests:2.31.0"],
            "userdata": {"team": "platform"},
            "operator_csv_modifications_url": "https://example.com/csv.json",
            "signing_intent": "release",
        },
    ]
    assert task["priority"] == koji.PRIO_DEFAULT + 5
    assert task["method"] == "buildContainer"


def test_scratch_compose_ids_and_channel_override(koji_cli, sandbox_hub):
    sandbox_hub.add_channel("container-test")
    result = koji_cli.run(
        "container-build",
        "demo",
        SOURCE,
        "--git-branch=main",
        "--scratch",
        "--arch-override",
        "x86_64, aarch64",
        "--compose-id",
        "11",
        "--compose-id",
        "12",
        "--channel-override",
        "container-test",
        "--nowait",
        user="admin",
    )
    assert result.returncode == 0, result.stderr
    (task,) = _tasks(sandbox_hub)
    assert _request(sandbox_hub, task["id"])[2] == {
        "git_branch": "main",
        "scratch": True,
        "arch_override": "x86_64 aarch64",
        "compose_ids": [11, 12],
    }
    channel = sandbox_hub.call("getChannel", ["container-test"], {})
    assert task["channel_id"] == channel["id"]
    assert task["priority"] == koji.PRIO_DEFAULT


def test_flatpak_build_sends_flatpak_true(koji_cli, sandbox_hub):
    result = koji_cli.run("flatpak-build", "demo", SOURCE, "--git-branch", "f40", "--nowait")
    assert result.returncode == 0, result.stderr
    (task,) = _tasks(sandbox_hub)
    assert _request(sandbox_hub, task["id"])[2] == {"git_branch": "f40", "flatpak": True}


def test_source_container_build_sends_build_id_and_nvr(koji_cli, sandbox_hub):
    result = koji_cli.run(
        "source-container-build",
        "demo",
        "--koji-build-id",
        "42",
        "--koji-build-nvr",
        "demo-image-1.0-1",
        "--signing-intent",
        "release",
        "--scratch",
        "--nowait",
    )
    assert result.returncode == 0, result.stderr
    (task,) = _tasks(sandbox_hub)
    assert task["method"] == "buildSourceContainer"
    assert _request(sandbox_hub, task["id"]) == [
        "demo",
        {
            "koji_build_id": 42,
            "koji_build_nvr": "demo-image-1.0-1",
            "signing_intent": "release",
            "scratch": True,
        },
    ]


def test_fedpkg_style_call_creates_one_task_with_normalised_opts(hub_server, sandbox_hub):
    # rpkg 1.70 sends every optional key, unset ones as None/False, and no channel.
    session = koji.ClientSession(hub_server.url, {"user": "alice", "password": "alice"})
    session.login()
    opts = {
        "scratch": False,
        "release": None,
        "isolated": False,
        "koji_parent_build": None,
        "git_branch": "rawhide",
        "signing_intent": None,
        "skip_build": False,
        "yum_repourls": None,
        "dependency_replacements": None,
        "compose_ids": None,
        "arch_override": None,
    }
    task_id = session.buildContainer(SOURCE, "demo", opts, priority=None)
    session.logout()
    assert [task["id"] for task in _tasks(sandbox_hub)] == [task_id]
    assert _request(sandbox_hub, task_id)[2] == {"git_branch": "rawhide"}


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--git-branch", "main", "--userdata", "{not json"], "--userdata is not valid JSON"),
        (["--git-branch", "main", "--userdata", "[1, 2]"], "--userdata"),
        (["--git-branch", "main", "--scratch", "--isolated"], "--scratch and --isolated"),
        (["--git-branch", "main", "--arch-override", "x86_64"], "--arch-override"),
        (["--scratch"], "--git-branch is required"),
        (["--git-branch", "main", "--compose-id", "x"], "--compose-id"),
        (
            ["--git-branch", "main", "--compose-id", "3", "--signing-intent", "release"],
            "--signing-intent and --compose-id",
        ),
        (["--git-branch", "main", "--repo-url", "ftp://example.com/a.repo"], "--repo-url"),
        (
            ["--git-branch", "main", "--operator-csv-modifications-url", "https://e.com/x"],
            "--operator-csv-modifications-url",
        ),
        (["--git-branch", "main", "--release", "1-2"], "--release"),
        (["--git-branch", "main", "--skip-build"], "--skip-build is no longer supported"),
        (["--git-branch", "main", "--follow-logs", "--nowait"], "--follow-logs"),
    ],
)
def test_invalid_build_options_are_usage_errors_and_send_nothing(
    koji_cli, sandbox_hub, args, says
):
    result = koji_cli.run("container-build", "demo", SOURCE, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert _tasks(sandbox_hub) == []


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("https://git.example.com/demo.git#abc", "not an SCM URL"),
        ("git://git.example.com/demo.git", "#"),
    ],
)
def test_bad_source_is_a_usage_error(koji_cli, sandbox_hub, source, says):
    result = koji_cli.run("container-build", "demo", source, "--git-branch", "main")
    assert result.returncode == 2
    assert says in result.stderr
    assert _tasks(sandbox_hub) == []


def test_all_problems_of_one_call_are_reported_together(offline_cli):
    result = offline_cli.run(
        "container-build", "demo", "https://example.com/x.git", "--scratch", "--isolated"
    )
    assert result.returncode == 2
    assert "not an SCM URL" in result.stderr
    assert "--git-branch is required" in result.stderr
    assert "--scratch and --isolated" in result.stderr


def test_wrong_number_of_arguments_is_a_usage_error(offline_cli):
    result = offline_cli.run("container-build", "demo")
    assert result.returncode == 2
    assert "Exactly two arguments" in result.stderr


def test_source_build_needs_a_build_id_or_nvr(offline_cli):
    result = offline_cli.run("source-container-build", "demo")
    assert result.returncode == 2
    assert "--koji-build-id and --koji-build-nvr" in result.stderr


def test_unknown_target_is_refused_before_submitting(koji_cli, sandbox_hub):
    result = koji_cli.run("container-build", "no-such-target", SOURCE, "--git-branch", "main")
    assert result.returncode == 2
    assert "Unknown build target 'no-such-target'" in result.stderr
    assert _tasks(sandbox_hub) == []


def test_locked_destination_tag_refuses_non_scratch_build(koji_cli, sandbox_hub):
    sandbox_hub.add_tag("locked-candidate", arches=None, locked=True)
    sandbox_hub.add_target("locked", "demo-build", "locked-candidate")
    result = koji_cli.run("container-build", "locked", SOURCE, "--git-branch", "main")
    assert result.returncode == 2
    assert "'locked-candidate' is locked" in result.stderr
    assert _tasks(sandbox_hub) == []


def test_locked_destination_tag_accepts_scratch_build(koji_cli, sandbox_hub):
    sandbox_hub.add_tag("locked-candidate", arches=None, locked=True)
    sandbox_hub.add_target("locked", "demo-build", "locked-candidate")
    result = koji_cli.run(
        "container-build", "locked", SOURCE, "--git-branch", "main", "--scratch", "--nowait"
    )
    assert result.returncode == 0, result.stderr
    assert len(_tasks(sandbox_hub)) == 1


def test_channel_override_refused_by_hub_for_plain_user(koji_cli, sandbox_hub):
    sandbox_hub.add_channel("elsewhere")
    result = koji_cli.run(
        "container-build",
        "demo",
        SOURCE,
        "--git-branch",
        "main",
        "--channel-override",
        "elsewhere",
        "--nowait",
    )
    assert result.returncode == 1
    assert "the hub refused the build" in result.stderr
    assert "Traceback" not in result.stderr
    assert _tasks(sandbox_hub) == []


# ---------------------------------------------------------------- watching and results


def _reserve_build(hub) -> int:
    hub.grant_cg_access("builder", "koji-containerbuild")
    reservation = hub.call(
        "CGInitBuild",
        ["koji-containerbuild", {"name": "demo-image", "version": "1.0", "release": "1"}],
        session_user="builder",
    )
    return reservation["build_id"]


def test_successful_task_prints_result_and_exits_zero(koji_cli, sandbox_hub):
    build_id = _reserve_build(sandbox_hub)

    def act(builder, task_id):
        builder.open(task_id)
        builder.close(task_id, dict(SUCCESS, koji_builds=[str(build_id)]))

    result = _run_with_builder(
        koji_cli,
        sandbox_hub,
        ["container-build", "demo", SOURCE, "--git-branch=main", "--wait"],
        act,
    )
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

    result = _run_with_builder(
        koji_cli,
        sandbox_hub,
        ["container-build", "demo", SOURCE, "--git-branch=main", "--wait"],
        act,
    )
    assert result.returncode == 1
    assert "Dockerfile has no 'name' label" in result.stdout


def test_cancelled_task_exits_one(koji_cli, sandbox_hub):
    def act(builder, task_id):
        sandbox_hub.call("cancelTask", [task_id], session_user="alice")

    result = _run_with_builder(
        koji_cli,
        sandbox_hub,
        ["container-build", "demo", SOURCE, "--git-branch=main", "--wait"],
        act,
    )
    assert result.returncode == 1
    assert "canceled" in result.stdout


def test_json_output_of_a_successful_build_with_koji_build(koji_cli, sandbox_hub):
    build_id = _reserve_build(sandbox_hub)

    def act(builder, task_id):
        builder.open(task_id)
        builder.close(task_id, dict(SUCCESS, koji_builds=[str(build_id)]))

    result = _run_with_builder(
        koji_cli,
        sandbox_hub,
        ["container-build", "demo", SOURCE, "--git-branch=main", "--wait", "--json"],
        act,
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

    result = _run_with_builder(
        koji_cli,
        sandbox_hub,
        ["container-build", "demo", SOURCE, "--git-branch=main", "--wait", "--json"],
        act,
    )
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
    (task,) = _tasks(sandbox_hub)
    assert json.loads(result.stdout) == {
        "task_id": task["id"],
        "task_url": f"{WEBURL}/taskinfo?taskID={task['id']}",
    }


def test_follow_logs_prints_uploaded_task_output(koji_cli, sandbox_hub):
    def act(builder, task_id):
        builder.open(task_id)
        builder.upload(task_id, "x86_64.log", b"STEP 1/2: FROM base\n")
        time.sleep(1.5)  # at least one poll sees the first part only
        builder.upload(task_id, "x86_64.log", b"STEP 2/2: RUN make\n", offset=20)
        builder.close(task_id, SUCCESS)

    result = _run_with_builder(
        koji_cli,
        sandbox_hub,
        ["container-build", "demo", SOURCE, "--git-branch=main", "--follow-logs"],
        act,
    )
    assert result.returncode == 0, result.stderr
    assert "x86_64.log" in result.stdout
    assert "STEP 1/2: FROM base\nSTEP 2/2: RUN make\n" in result.stdout
    assert result.stdout.index("STEP 2/2") < result.stdout.index("demo-image:1.0-1")


# ---------------------------------------------------------------- parsing, no hub


def test_flag_names_replace_option_keys_with_flags():
    from koji_containerbuild.cli import flag_names

    sentence = "Options 'signing_intent' and 'compose_ids' cannot be used together."
    assert flag_names(sentence) == (
        "Options --signing-intent and --compose-id cannot be used together."
    )
