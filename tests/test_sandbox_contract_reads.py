"""The sandbox hub's read calls the builder, the CLI and the demo make, against kojihub.

One test per behaviour; each docstring names the kojihub (koji-project/koji
kojihub/kojihub.py) function it mirrors: what it answers for what is missing,
and what it refuses.
"""

from __future__ import annotations

import koji
import pytest

from tests.conftest import open_task


@pytest.fixture
def anon(sandbox_hub):
    return sandbox_hub.session()


def test_get_build_target_of_a_missing_target_is_none(anon):
    """get_build_target(strict=False): None for a name no target has."""
    assert anon.getBuildTarget("no-such-target") is None


def test_get_build_target_names_its_tags(anon):
    """get_build_target: the target row with build_tag(_name) and dest_tag(_name)."""
    target = anon.getBuildTarget("demo")
    assert (target["build_tag_name"], target["dest_tag_name"]) == ("demo-build", "demo-candidate")
    assert anon.getTag(target["dest_tag"])["name"] == "demo-candidate"


def test_get_tag_of_a_missing_tag_is_none(anon):
    """get_tag(strict=False): None."""
    assert anon.getTag("no-such-tag") is None


def test_get_build_config_of_a_missing_tag_is_an_error(anon):
    """get_build_config: get_tag(strict=True) raises for a missing tag."""
    with pytest.raises(koji.GenericError, match="No such tagInfo"):
        anon.getBuildConfig("no-such-tag")


def test_get_package_config_of_a_missing_tag_or_package_is_none(anon):
    """RootExports.getPackageConfig: None when the tag or the package is unknown."""
    assert anon.getPackageConfig("no-such-tag", "demo-image") is None
    assert anon.getPackageConfig("demo-candidate", "no-such-package") is None


def test_get_package_config_names_the_owner(anon):
    """RootExports.getPackageConfig: readPackageList's entry, with owner_name and blocked."""
    config = anon.getPackageConfig("demo-candidate", "demo-image")
    assert (config["owner_name"], config["blocked"]) == ("alice", False)


def test_get_last_event_has_an_id_and_a_time(anon):
    """get_last_event: {'id', 'ts'} of the newest event."""
    assert set(anon.getLastEvent()) == {"id", "ts"}


def test_get_user_of_a_missing_user_is_none(anon):
    """get_user(strict=False): None."""
    assert anon.getUser("nobody-here") is None


def test_get_channel_of_a_missing_channel_is_none(anon):
    """get_channel(strict=False): None."""
    assert anon.getChannel("no-such-channel") is None


def test_get_task_info_of_a_missing_task_is_none(anon):
    """RootExports.getTaskInfo(strict=False): None."""
    assert anon.getTaskInfo(999999) is None


def test_get_build_of_a_missing_build_is_none(anon):
    """get_build(strict=False): None."""
    assert anon.getBuild("demo-image-9.9-9") is None


def test_list_tags_of_a_missing_build_is_an_error(anon):
    """list_tags(build=...): 'No such build'."""
    with pytest.raises(koji.GenericError, match="No such build"):
        anon.listTags(build="demo-image-9.9-9")


def test_get_task_result_of_an_open_task_is_an_error(sandbox_hub, anon):
    """Task.getResult: a task not CLOSED or FAILED is 'not finished'."""
    task_id = open_task(sandbox_hub)
    with pytest.raises(koji.GenericError, match=f"Task {task_id} is not finished"):
        anon.getTaskResult(task_id)


def test_get_task_result_of_a_cancelled_task_is_an_error(sandbox_hub, anon):
    """Task.getResult: 'Task N is canceled'."""
    task_id = open_task(sandbox_hub)
    sandbox_hub.session("admin").cancelTask(task_id)
    with pytest.raises(koji.GenericError, match=f"Task {task_id} is canceled"):
        anon.getTaskResult(task_id)


def test_download_task_output_of_a_missing_file_is_an_error(sandbox_hub, anon):
    """RootExports.downloadTaskOutput: 'no file ... output by task N'."""
    task_id = open_task(sandbox_hub)
    with pytest.raises(koji.GenericError, match=f'no file "x86_64.log" output by task {task_id}'):
        anon.downloadTaskOutput(task_id, "x86_64.log")


def test_download_task_output_reads_from_an_offset(sandbox_hub, anon):
    """RootExports.downloadTaskOutput: offset and size select the bytes (base64 on the wire)."""
    task_id = open_task(sandbox_hub)
    sandbox_hub.session("builder").rawUpload(
        b"0123456789", 0, koji.pathinfo.taskrelpath(task_id), "x86_64.log"
    )
    assert anon.downloadTaskOutput(task_id, "x86_64.log", 3, 4) == b"3456"


def test_cancel_task_by_someone_else_is_refused(sandbox_hub):
    """RootExports.cancelTask: only the owner, the host running it or an admin."""
    task_id = sandbox_hub.session("admin").makeTask("thing", [], channel="container")
    with pytest.raises(koji.ActionNotAllowed, match="Cannot cancel task, not owner"):
        sandbox_hub.session("alice").cancelTask(task_id)
