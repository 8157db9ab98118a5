"""End to end: the real koji CLI and ClientSession against the running sandbox.

Each test commits its own small image source into the sandbox's git daemon
and builds it through ``koji container-build``; the hub plugin, the builder
plugin (run by the worker as kojid would), the local buildah backend, the
registry and the Content Generator import are all the real code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import koji
import pytest

from koji_containerbuild.sandbox.env import runtime
from koji_containerbuild.sandbox.kojid import proctree
from koji_containerbuild.sandbox.kojid.fork import task_pid_file

pytestmark = pytest.mark.e2e

CREATED = re.compile(r"Created task:\s*(\d+)")
#: Makes the sleep commands of this run's builds unique on the machine, so the
#: process checks never see another test run's builds.
UNIQUE = f"{os.getpid() % 1000:03d}"


# ---------------------------------------------------------------- helpers


def dockerfile(component: str, release: str, run: str, version: str = "1.0") -> str:
    return (
        f"FROM {runtime.BASE_IMAGE}\n"
        f'LABEL com.redhat.component="{component}" name="e2e/{component}" '
        f'version="{version}" release="{release}"\n'
        f"RUN {run}\n"
    )


def publish(sandbox, tmp_path, component: str, text: str) -> str:
    """Commit a Dockerfile as git repo ``component``; return its SCM URL."""
    sandbox.hub.add_package(runtime.DEST_TAG, component, runtime.USER)
    source = tmp_path / component
    source.mkdir(exist_ok=True)
    (source / "Dockerfile").write_text(text)
    return sandbox.publish(component, str(source), f"{component}: {len(text)} bytes")


def koji_cli(sandbox, *args: str, timeout: float = 240, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The CLI plugin imports koji_containerbuild: use this checkout's.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (runtime.REPO_ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [*sandbox.koji(), *args],
        capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd,
    )  # fmt: skip


def build(sandbox, scm_url: str, *extra: str, wait: bool = True):
    """``koji container-build demo URL``; return (completed process, task id)."""
    args = ["container-build", runtime.TARGET, scm_url, "--git-branch", "main", *extra]
    args.append("--wait" if wait else "--nowait")
    done = koji_cli(sandbox, *args)
    match = CREATED.search(done.stdout + done.stderr)
    assert match, f"no task created:\n{done.stdout}\n{done.stderr}"
    return done, int(match.group(1))


def task_state(session, task_id: int) -> str:
    return koji.TASK_STATES[session.getTaskInfo(task_id)["state"]]


def wait_for(condition, timeout: float = 120.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["skopeo", *args, "--tls-verify=false"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def registry_tags(sandbox, repository: str) -> list[str]:
    done = skopeo("list-tags", f"docker://{sandbox.registry_address}/{repository}")
    return json.loads(done.stdout)["Tags"] if done.returncode == 0 else []


def task_process_alive(sandbox, task_id: int) -> bool:
    """Whether the worker's child for the task still runs (from the worker's pid file)."""
    with open(task_pid_file(os.path.join(sandbox.paths.logs, "tasks"), task_id)) as handle:
        noted = json.load(handle)
    return proctree.is_alive((noted["pid"], noted["start"]))


def task_log_text(session, task_id: int) -> str:
    texts = []
    for name in session.listTaskOutput(task_id):
        if name.endswith(".log"):
            texts.append(session.downloadTaskOutput(task_id, name).decode(errors="replace"))
    return "\n".join(texts)


# ---------------------------------------------------------------- builds


def test_non_scratch_build_is_pushed_and_imported(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-ok", dockerfile("e2e-ok", "1", "echo built > /built"))
    done, task_id = build(sandbox, url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert task_state(session, task_id) == "CLOSED"

    result = session.getTaskResult(task_id)
    assert len(result["koji_builds"]) == 1
    build_info = session.getBuild(int(result["koji_builds"][0]))
    assert build_info["nvr"] == "e2e-ok-1.0-1"
    assert koji.BUILD_STATES[build_info["state"]] == "COMPLETE"
    assert build_info["task_id"] == task_id
    assert build_info["extra"]["container_koji_task_id"] == task_id
    archives = session.listArchives(buildID=build_info["build_id"])
    assert archives, "the image archive was not imported"

    tagged = [spec for spec in result["repositories"] if spec.endswith(":1.0-1")]
    assert tagged, result["repositories"]
    inspected = skopeo("inspect", f"docker://{tagged[0]}")
    assert inspected.returncode == 0, inspected.stderr
    labels = json.loads(inspected.stdout)["Labels"]
    assert labels["com.redhat.component"] == "e2e-ok"
    assert labels["release"] == "1"

    outputs = session.listTaskOutput(task_id)
    assert any(name.endswith(".log") for name in outputs), outputs


def test_scratch_build_is_pushed_but_not_imported(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-scratch", dockerfile("e2e-scratch", "1", "true"))
    done, task_id = build(sandbox, url, "--scratch")
    assert done.returncode == 0, done.stdout + done.stderr
    result = session.getTaskResult(task_id)
    assert not result.get("koji_builds")
    assert session.getBuild("e2e-scratch-1.0-1") is None
    assert result["repositories"]
    inspected = skopeo("inspect", f"docker://{result['repositories'][0]}")
    assert inspected.returncode == 0, inspected.stderr


def test_failing_run_fails_the_task_and_refunds_the_nvr(sandbox, session, tmp_path):
    failing = dockerfile("e2e-fail", "1", "echo e2e-failing-step && false")
    url = publish(sandbox, tmp_path, "e2e-fail", failing)
    done, task_id = build(sandbox, url)
    assert done.returncode != 0
    assert task_state(session, task_id) == "FAILED"
    with pytest.raises(koji.GenericError) as failure:
        session.getTaskResult(task_id)
    assert type(failure.value) is koji.BuildError
    assert re.fullmatch(
        r"The container build [\w.-]+ failed: The image build for x86_64 failed \(buildah "
        r"exited with status 1\); the x86_64 build log shows why\.",
        str(failure.value),
    ), str(failure.value)
    assert "e2e-failing-step" in task_log_text(session, task_id)
    refunded = session.getBuild("e2e-fail-1.0-1")
    assert koji.BUILD_STATES[refunded["state"]] == "FAILED"

    fixed = publish(sandbox, tmp_path, "e2e-fail", dockerfile("e2e-fail", "1", "true"))
    done, task_id = build(sandbox, fixed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert koji.BUILD_STATES[session.getBuild("e2e-fail-1.0-1")["state"]] == "COMPLETE"


def test_cancel_stops_the_build_and_pushes_nothing(sandbox, session, tmp_path):
    marker = f"sleep 600.{UNIQUE}"
    url = publish(sandbox, tmp_path, "e2e-cancel", dockerfile("e2e-cancel", "1", marker))
    _, task_id = build(sandbox, url, wait=False)
    wait_for(lambda: proctree.processes_matching(marker), timeout=90)
    done = koji_cli(sandbox, "cancel", str(task_id))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: not proctree.processes_matching(marker), timeout=30)
    wait_for(lambda: not task_process_alive(sandbox, task_id), timeout=30)
    assert task_state(session, task_id) == "CANCELED"
    assert "1.0-1" not in registry_tags(sandbox, "e2e/e2e-cancel")
    assert koji.BUILD_STATES[session.getBuild("e2e-cancel-1.0-1")["state"]] == "CANCELED"


def test_worker_restart_mid_build_finishes_the_task_once(sandbox, session, tmp_path):
    marker = f"sleep 6.{UNIQUE}"
    text = dockerfile("e2e-restart", "1", marker)
    url = publish(sandbox, tmp_path, "e2e-restart", text)
    _, task_id = build(sandbox, url, wait=False)
    wait_for(lambda: proctree.processes_matching(marker), timeout=90)
    sandbox.kill_worker()
    assert task_state(session, task_id) == "OPEN"
    sandbox.start_worker()
    wait_for(lambda: task_state(session, task_id) in ("CLOSED", "FAILED", "CANCELED"))
    outcome = session.getTaskResult(task_id, raise_fault=False)
    assert task_state(session, task_id) == "CLOSED", outcome
    package = session.getPackage("e2e-restart")
    builds = session.listBuilds(packageID=package["id"])
    complete = [b for b in builds if koji.BUILD_STATES[b["state"]] == "COMPLETE"]
    assert [b["nvr"] for b in complete] == ["e2e-restart-1.0-1"]
    assert session.getTaskResult(task_id)["koji_builds"] == [str(complete[0]["build_id"])]


# ---------------------------------------------------------------- refusals


def tasks_count(session) -> int:
    return len(session.listTasks())


def test_unknown_option_is_refused_before_a_task_exists(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-refused", dockerfile("e2e-refused", "1", "true"))
    before = tasks_count(session)
    done = koji_cli(sandbox, "container-build", runtime.TARGET, url, "--no-such-option")
    assert done.returncode == 2
    with pytest.raises(koji.ParameterError, match="no_such_option"):
        session.buildContainer(url, runtime.TARGET, {"git_branch": "main", "no_such_option": 1})
    assert tasks_count(session) == before


def test_non_scm_source_is_refused_before_a_task_exists(sandbox, session):
    before = tasks_count(session)
    source = "https://example.com/repo.git#0123abc"
    done = koji_cli(sandbox, "container-build", runtime.TARGET, source, "--git-branch", "main")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    with pytest.raises(koji.ParameterError):
        session.buildContainer(source, runtime.TARGET, {"git_branch": "main"})
    assert tasks_count(session) == before


def test_unknown_target_is_refused_before_a_task_exists(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-refused", dockerfile("e2e-refused", "1", "true"))
    before = tasks_count(session)
    done = koji_cli(sandbox, "container-build", "no-such-target", url, "--git-branch", "main")
    assert done.returncode != 0
    assert "no-such-target" in done.stderr + done.stdout
    with pytest.raises(koji.GenericError):
        session.buildContainer(url, "no-such-target", {"git_branch": "main"})
    assert tasks_count(session) == before


def test_scm_outside_the_allowlist_is_refused_by_the_builder(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-denied", dockerfile("e2e-denied", "1", "true"))
    elsewhere = url.replace("git://127.0.0.1:", "git://localhost:")
    done, task_id = build(sandbox, elsewhere)
    assert done.returncode != 0
    assert task_state(session, task_id) == "FAILED"
    with pytest.raises(koji.BuildError, match="allowed"):
        session.getTaskResult(task_id)
    assert session.getBuild("e2e-denied-1.0-1") is None
