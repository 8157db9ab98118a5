"""The sandbox hub's tagging calls refuse what kojihub refuses, with its sentences."""

from __future__ import annotations

import koji
import pytest

from tests.builder_harness import import_image_build


@pytest.fixture
def build(sandbox_hub, tmp_path):
    return import_image_build(sandbox_hub, str(tmp_path / "b1"), "demo-image-1.0-1", {})


@pytest.fixture
def task_id(sandbox_hub):
    """A task of alice's, opened by the builder host."""
    task = sandbox_hub.session("alice").buildContainer(
        "git://127.0.0.1/containers/demo-image#abc", "demo", {"git_branch": "main"}
    )
    sandbox_hub.session("builder").host.openTask(task)
    return task


def host_tag(hub, task_id, build, tag="demo-candidate"):
    return hub.session("builder").host.tagBuild(task_id, tag, build["id"])


def test_host_tag_build_tags_as_the_task_owner(sandbox_hub, task_id, build):
    host_tag(sandbox_hub, task_id, build)
    assert [b["nvr"] for b in sandbox_hub.session("alice").listTagged("demo-candidate")] == [
        "demo-image-1.0-1"
    ]


def test_host_tag_build_needs_the_host_that_runs_the_task(sandbox_hub, task_id, build):
    sandbox_hub.add_user("other-builder", "x", host=True)
    with pytest.raises(koji.ActionNotAllowed, match="does not own task"):
        sandbox_hub.session("other-builder").host.tagBuild(task_id, "demo-candidate", build["id"])


def test_host_tag_build_refuses_a_package_not_listed(sandbox_hub, task_id, tmp_path):
    other = import_image_build(sandbox_hub, str(tmp_path / "b2"), "unlisted-1-1", {})
    with pytest.raises(koji.TagError, match="Package unlisted not in list for demo-candidate"):
        host_tag(sandbox_hub, task_id, other)


def test_host_tag_build_refuses_a_locked_tag(sandbox_hub, task_id, build):
    sandbox_hub.add_tag("frozen", arches=None, locked=True)
    sandbox_hub.add_package("frozen", "demo-image", "alice")
    with pytest.raises(koji.ActionNotAllowed, match="tag is locked"):
        host_tag(sandbox_hub, task_id, build, tag="frozen")


def test_host_tag_build_refuses_a_build_tagged_already(sandbox_hub, task_id, build):
    host_tag(sandbox_hub, task_id, build)
    with pytest.raises(koji.TagError, match="already tagged"):
        host_tag(sandbox_hub, task_id, build)


def test_host_tag_build_refuses_a_build_that_is_not_complete(sandbox_hub, task_id):
    sandbox_hub.grant_cg_access("admin", "test-cg")
    reserved = sandbox_hub.session("admin").CGInitBuild(
        "test-cg", {"name": "demo-image", "version": "2", "release": "1"}
    )
    with pytest.raises(koji.TagError, match="not complete: state BUILDING"):
        host_tag(sandbox_hub, task_id, {"id": reserved["build_id"]})


def test_tag_policy_text_not_covering_the_call_denies(sandbox_hub, task_id, build):
    sandbox_hub.set_policy("tag", "tag other-* :: allow")
    with pytest.raises(koji.ActionNotAllowed, match=r"policy violation \(tag\): not covered"):
        host_tag(sandbox_hub, task_id, build)


def test_tag_notification_is_accepted_from_a_host(sandbox_hub, build):
    tag_id = sandbox_hub.session("alice").getTag("demo-candidate")["id"]
    assert (
        sandbox_hub.session("builder").host.tagNotification(
            True, tag_id, None, build["id"], "alice", False
        )
        is None
    )


def test_tag_notification_needs_a_host(sandbox_hub, build):
    with pytest.raises(koji.AuthError):
        sandbox_hub.session("alice").host.tagNotification(True, 1, None, build["id"], 1)


def test_latest_build_is_the_last_tagged_per_package(sandbox_hub, tmp_path):
    first = import_image_build(sandbox_hub, str(tmp_path / "b1"), "demo-image-1.0-1", {})
    second = import_image_build(sandbox_hub, str(tmp_path / "b2"), "demo-image-1.0-2", {})
    sandbox_hub.tag_build("demo-candidate", second["id"])
    sandbox_hub.tag_build("demo-candidate", first["id"])
    latest = sandbox_hub.session("alice").getLatestBuilds("demo-candidate")
    assert [b["nvr"] for b in latest] == ["demo-image-1.0-1"]


def test_list_tagged_leaves_out_packages_blocked_in_the_tag(sandbox_hub, build):
    sandbox_hub.tag_build("demo-candidate", build["id"])
    sandbox_hub.add_package("demo-candidate", "demo-image", "alice", blocked=True)
    assert sandbox_hub.session("alice").listTagged("demo-candidate") == []


def test_list_tagged_of_a_missing_tag_is_an_error(sandbox_hub):
    with pytest.raises(koji.GenericError, match="No such tagInfo"):
        sandbox_hub.session("alice").listTagged("no-such-tag")


def test_tag_build_creates_the_tag_build_task_kojid_runs(sandbox_hub, build):
    task_id = sandbox_hub.session("alice").tagBuild("demo-candidate", build["id"])
    info = sandbox_hub.session("alice").getTaskInfo(task_id, request=True)
    assert (info["method"], info["request"], info["priority"]) == (
        "tagBuild",
        [sandbox_hub.session("alice").getTag("demo-candidate")["id"], build["id"], False, None],
        10,
    )


def test_tag_build_refuses_a_package_not_listed_before_making_a_task(sandbox_hub, tmp_path):
    other = import_image_build(sandbox_hub, str(tmp_path / "b2"), "unlisted-1-1", {})
    with pytest.raises(koji.TagError, match="Package unlisted not in list for demo-candidate"):
        sandbox_hub.session("alice").tagBuild("demo-candidate", other["id"])


def test_untag_build_removes_the_build_from_the_tag(sandbox_hub, build):
    sandbox_hub.tag_build("demo-candidate", build["id"])
    sandbox_hub.session("admin").untagBuild("demo-candidate", build["id"])
    assert sandbox_hub.session("alice").listTagged("demo-candidate") == []


def test_untag_build_of_a_build_not_in_the_tag_is_an_error(sandbox_hub, build):
    with pytest.raises(koji.TagError, match=r"build demo-image-1\.0-1 not in tag demo-candidate"):
        sandbox_hub.session("admin").untagBuild("demo-candidate", build["id"])


def run_tag_build_task(hub, task_id):
    from koji_containerbuild.sandbox.kojid.tagbuild import TagBuildTask

    host = hub.session("builder")
    host.host.openTask(task_id)
    params = hub.session("alice").getTaskInfo(task_id, request=True)["request"]
    return TagBuildTask(task_id, "tagBuild", params, host, None, workdir="/nonexistent").handler(
        *params
    )


def test_tag_build_task_tags_the_build_as_its_owner(sandbox_hub, build):
    task_id = sandbox_hub.session("alice").tagBuild("demo-candidate", build["id"])
    run_tag_build_task(sandbox_hub, task_id)
    (tagged,) = sandbox_hub.session("alice").listTagged("demo-candidate")
    assert tagged["nvr"] == "demo-image-1.0-1"


def test_tag_build_task_fails_when_the_hub_refuses_the_tag(sandbox_hub, build):
    task_id = sandbox_hub.session("alice").tagBuild("demo-candidate", build["id"])
    with sandbox_hub.db.write() as cnx:
        cnx.execute("UPDATE tags SET locked = 1 WHERE name = 'demo-candidate'")
    with pytest.raises(koji.ActionNotAllowed, match="tag is locked"):
        run_tag_build_task(sandbox_hub, task_id)
