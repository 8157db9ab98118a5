"""The local runner's lease on its Koji task (sandbox hub over XML-RPC, real buildah).

A build started for a task stops and withdraws its pushes once the task
ended without importing it, and keeps going while the task is merely freed
(kojid restart). Withdrawing never deletes a manifest another tag needs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time

import koji
import koji.xmlrpcplus
import pytest

from koji_containerbuild.backends.base import BuildRequest, Outcome
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry
from koji_containerbuild.backends.local.procs import runner_tree
from tests.local_backend_fixture import (  # noqa: F401 - fixtures
    HOST,
    backend,
    make_request,
    registry_tags,
    settings,
)


@pytest.fixture
def builder(sandbox_hub):
    return sandbox_hub.session("builder")


@pytest.fixture
def task_id(sandbox_hub, builder):
    task = sandbox_hub.session("admin").makeTask("buildContainer", [], channel="container")
    builder.host.openTask(task)
    return task


def lease_request(tmp_path, run: str, task_id: int, hub_url: str | None, release: str):
    return make_request(
        tmp_path, f"FROM {{base}}\nRUN {run}\n", name=f"demo/lease-{release}", release=release,
        task_id=task_id, component="lease-app", additional_tags=[], hub_url=hub_url,
    )  # fmt: skip


def with_base(request: BuildRequest, base_image: str) -> BuildRequest:
    path = os.path.join(request.source_dir, "Dockerfile")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace("{base}", base_image))
    return request


def fail_task(builder, task_id):
    fault = koji.xmlrpcplus.Fault(1000, "The task process was killed.")
    builder.host.failTask(task_id, koji.xmlrpcplus.dumps(fault))


def runner_processes(settings, handle):
    runner = bh.read_json(os.path.join(settings.state_dir, handle, bh.RUNNER_FILE))
    return sorted(runner_tree(runner["pid"], runner["pgid"]))


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def start_until_line(backend, request, line):
    handle = backend.start(request)
    for _platform, text in backend.logs(handle):
        if text == line:
            return handle
    raise AssertionError(f"the build never printed {line!r}")


def test_build_of_a_failed_task_is_stopped(
    tmp_path, backend, settings, base_image, hub_server, builder, task_id
):
    run = "echo lease-sleeping && sleep 120"
    request = with_base(lease_request(tmp_path, run, task_id, hub_server.url, "dead"), base_image)
    handle = start_until_line(backend, request, "lease-sleeping")
    fail_task(builder, task_id)
    result = backend.wait(handle)
    assert (result.outcome, result.reason) == (
        Outcome.CANCELLED,
        f"Task {task_id} ended (FAILED) while its build ran.",
    )


def test_build_of_an_arch_subtask_is_stopped_when_its_parent_failed(
    tmp_path, backend, settings, base_image, hub_server, builder, sandbox_hub, task_id
):
    subtask = builder.host.subtask("buildContainerArch", [], task_id, arch=HOST, label=HOST)
    builder.host.openTask(subtask)
    run = "echo lease-sleeping && sleep 120"
    request = lease_request(tmp_path, run, subtask, hub_server.url, "orphan")
    request = dataclasses.replace(with_base(request, base_image), parent_task_id=task_id)
    handle = start_until_line(backend, request, "lease-sleeping")
    fail_task(builder, task_id)  # the parent's process was killed: nobody imports the arch
    result = backend.wait(handle)
    assert (result.outcome, result.reason) == (
        Outcome.CANCELLED,
        f"Task {task_id} ended (FAILED) while its build ran.",
    )


def test_build_goes_on_while_its_task_is_freed(
    tmp_path, backend, settings, base_image, hub_server, builder, task_id
):
    run = "echo lease-sleeping && sleep 5 && echo lease-done"
    request = with_base(lease_request(tmp_path, run, task_id, hub_server.url, "free"), base_image)
    handle = start_until_line(backend, request, "lease-sleeping")
    builder.host.freeTasks([task_id])
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED
    # the runner lingers for the freed task; released as after an import, it ends
    # (left lingering, it would outlive the test's hub, which it never gives up on)
    backend.cleanup(handle)
    wait_for(lambda: not runner_processes(settings, handle))


def test_finished_build_of_a_task_that_failed_before_import_is_withdrawn(
    tmp_path, backend, settings, base_image, hub_server, builder, task_id
):
    request = with_base(
        lease_request(tmp_path, "true", task_id, hub_server.url, "late"), base_image
    )
    handle = backend.start(request)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED
    fail_task(builder, task_id)
    wait_for(lambda: not runner_processes(settings, handle))
    assert registry_tags(settings, "demo/lease-late") == []


def test_finished_build_of_a_closed_task_keeps_its_tags(
    tmp_path, backend, settings, base_image, hub_server, builder, task_id
):
    request = with_base(
        lease_request(tmp_path, "true", task_id, hub_server.url, "kept"), base_image
    )
    handle = backend.start(request)
    backend.wait(handle)
    builder.host.closeTask(task_id, koji.xmlrpcplus.dumps(({},), methodresponse=1))
    wait_for(lambda: not runner_processes(settings, handle))
    assert "1.0-kept" in registry_tags(settings, "demo/lease-kept")


def test_cancel_of_a_finished_build_withdraws_its_tags(tmp_path, backend, settings, base_image):
    request = with_base(lease_request(tmp_path, "true", 7, None, "after"), base_image)
    handle = backend.start(request)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED
    backend.cancel(handle)
    assert registry_tags(settings, "demo/lease-after") == []


def copy_image(source: str, destination: str) -> None:
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{source}", f"docker://{destination}"],
        check=True,
    )  # fmt: skip


def journal_build(tmp_path, repository, unique_tag, moved=None):
    build_dir = tmp_path / f"build-{unique_tag}"
    build_dir.mkdir()
    journal = {"repository": repository, "unique_tags": [unique_tag], "digests": []}
    journal["moved_tags"] = moved or {}
    bh.write_json(str(build_dir / bh.PUSHED_FILE), journal)
    return str(build_dir)


def test_withdraw_keeps_a_manifest_an_older_builds_tag_points_at(tmp_path, settings, base_image):
    repository = f"{settings.registry}/demo/shared"
    copy_image(base_image, f"{repository}:1.0-1")  # an older build's record
    copy_image(base_image, f"{repository}:scratch-9-2026")  # this build, same digest
    build_dir = journal_build(tmp_path, repository, "scratch-9-2026")
    assert registry.withdraw_pushes(build_dir, bh.settings_dict(settings)) == []
    assert "1.0-1" in registry_tags(settings, "demo/shared")


def test_withdraw_keeps_a_tag_it_moved_onto_the_digest_it_had(tmp_path, settings, base_image):
    repository = f"{settings.registry}/demo/moved"
    copy_image(base_image, f"{repository}:latest")
    digest = registry.registry_digest(bh.settings_dict(settings), f"{repository}:latest")
    copy_image(base_image, f"{repository}:1.0-2-7-2026")
    build_dir = journal_build(tmp_path, repository, "1.0-2-7-2026", moved={"latest": digest})
    registry.withdraw_pushes(build_dir, bh.settings_dict(settings))
    assert "latest" in registry_tags(settings, "demo/moved")


def test_withdraw_deletes_a_tag_it_moved_from_another_digest(tmp_path, settings, base_image):
    repository = f"{settings.registry}/demo/floating"
    copy_image(base_image, f"{repository}:1.0-3-7-2026")
    copy_image(base_image, f"{repository}:latest")
    build_dir = journal_build(
        tmp_path, repository, "1.0-3-7-2026", moved={"latest": "sha256:" + "0" * 64}
    )
    registry.withdraw_pushes(build_dir, bh.settings_dict(settings))
    assert registry_tags(settings, "demo/floating") == []


def test_lingering_runner_withdraws_on_the_cancel_marker_alone(
    tmp_path, backend, settings, base_image, hub_server, task_id
):
    """A cancel() cut short right after its marker (kojid's SIGKILL) still withdraws."""
    request = with_base(
        lease_request(tmp_path, "true", task_id, hub_server.url, "cut"), base_image
    )
    handle = backend.start(request)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED
    with open(os.path.join(settings.state_dir, handle, bh.CANCEL_FILE), "w") as marker:
        marker.write("cancelled\n")
    wait_for(lambda: not runner_processes(settings, handle))
    assert registry_tags(settings, "demo/lease-cut") == []


def test_withdraw_tries_again_when_the_registry_fails_a_delete(
    tmp_path, settings, base_image, monkeypatch
):
    repository = f"{settings.registry}/demo/flaky"
    copy_image(base_image, f"{repository}:1.0-4-7-2026")
    copy_image(base_image, f"{repository}:1.0-4")
    build_dir = journal_build(tmp_path, repository, "1.0-4-7-2026", moved={"1.0-4": None})
    real_skopeo = shutil.which("skopeo")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "skopeo").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = delete ] && [ ! -e {tmp_path}/failed ]; then\n'
        f"  touch {tmp_path}/failed; echo 'received unexpected HTTP status: 500' >&2; exit 1\n"
        "fi\n"
        f'exec {real_skopeo} "$@"\n'
    )
    (bin_dir / "skopeo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert registry.withdraw_pushes(build_dir, bh.settings_dict(settings)) == []
    assert registry_tags(settings, "demo/flaky") == []
