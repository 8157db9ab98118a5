"""The sandbox hub's CG, task, build, permission, package and host calls, against kojihub.

The calls the library, the plugins and the demo make that the other contract
modules leave out. One test per behaviour; each docstring names the kojihub
(koji-project/koji kojihub/kojihub.py, kojihub/auth.py) function it mirrors.
"""

from __future__ import annotations

import koji
import pytest
from koji.context import context

from tests.conftest import open_task
from tests.test_sandbox_cg import CG, metadata, reserve_and_upload

BUILDING, FAILED, COMPLETE = (koji.BUILD_STATES[s] for s in ("BUILDING", "FAILED", "COMPLETE"))


@pytest.fixture
def cg_hub(sandbox_hub):
    sandbox_hub.grant_cg_access("builder", CG)
    return sandbox_hub


def reserve(hub, release: str) -> dict:
    return hub.session("builder").CGInitBuild(
        CG, {"name": "demo-image", "version": "1.0", "release": release}
    )


# -- CGInitBuild, CGRefundBuild ---------------------------------------------------------


def test_cg_init_build_needs_cg_access(cg_hub):
    """cg_init_build -> assert_cg: a user without access to the CG is refused."""
    with pytest.raises(koji.AuthError, match=rf"Content generator access required \({CG}\)"):
        cg_hub.session("alice").CGInitBuild(
            CG, {"name": "demo-image", "version": "1.0", "release": "1"}
        )


def test_cg_init_build_of_a_build_in_progress_for_another_task_is_refused(cg_hub):
    """cg_init_build -> new_build -> recycle_build: a BUILDING build of another task."""
    first, second = open_task(cg_hub), open_task(cg_hub)
    nvr = {"name": "demo-image", "version": "1.0", "release": "1"}
    builder = cg_hub.session("builder")
    builder.CGInitBuild(CG, dict(nvr, task_id=first))
    with pytest.raises(koji.GenericError, match=rf"^Build already in progress \(task {first}\)$"):
        builder.CGInitBuild(CG, dict(nvr, task_id=second))


def test_cg_init_build_of_a_canceled_nvr_reuses_its_build(cg_hub):
    """cg_init_build -> new_build -> recycle_build: a CANCELED build is recycled, same id."""
    old = reserve(cg_hub, "1")
    cg_hub.session("builder").CGRefundBuild(
        CG, old["build_id"], old["token"], koji.BUILD_STATES["CANCELED"]
    )
    assert reserve(cg_hub, "1")["build_id"] == old["build_id"]


def test_cg_refund_build_of_a_complete_build_is_refused(cg_hub):
    """cg_refund_build: only a build still BUILDING is refunded."""
    builder, res = reserve_and_upload(cg_hub)
    builder.CGImport(metadata(res["build_id"]), "cg/import-1", token=res["token"])
    with pytest.raises(koji.GenericError, match=f"Build ID {res['build_id']} is not in BUILDING"):
        builder.CGRefundBuild(CG, res["build_id"], res["token"])


# -- listTasks, getTaskChildren ---------------------------------------------------------


def test_list_tasks_with_a_parent_lists_only_its_children(sandbox_hub):
    """RootExports.listTasks(opts={'parent': id}): 'parent = id'."""
    admin = sandbox_hub.session("admin")
    parent = open_task(sandbox_hub)
    child = admin.makeTask("part", [], parent=parent)
    admin.makeTask("thing", [], channel="container")
    assert [t["id"] for t in admin.listTasks({"parent": parent})] == [child]


def test_list_tasks_with_parent_none_lists_only_top_level_tasks(sandbox_hub):
    """RootExports.listTasks: an int option given as None is 'IS NULL'."""
    admin = sandbox_hub.session("admin")
    parent = open_task(sandbox_hub)
    admin.makeTask("part", [], parent=parent)
    assert [t["id"] for t in admin.listTasks({"parent": None})] == [parent]


def test_list_tasks_with_host_id_none_lists_only_unassigned_tasks(sandbox_hub):
    """RootExports.listTasks: {'host_id': None} is 'host_id IS NULL', not 'any host'."""
    opened = open_task(sandbox_hub)
    free = sandbox_hub.session("admin").makeTask("thing", [], channel="container")
    listed = [t["id"] for t in sandbox_hub.session().listTasks({"host_id": None})]
    assert (free in listed, opened in listed) == (True, False)


def test_list_tasks_with_a_method_lists_only_that_method(sandbox_hub):
    """RootExports.listTasks(opts={'method': name}): 'method = name'."""
    admin = sandbox_hub.session("admin")
    admin.makeTask("thing", [], channel="container")
    wanted = admin.makeTask("buildContainer", [], channel="container")
    assert [t["id"] for t in admin.listTasks({"method": "buildContainer"})] == [wanted]


def test_list_tasks_with_states_lists_only_those_states(sandbox_hub):
    """RootExports.listTasks(opts={'state': [..]}): 'state IN (..)'."""
    opened = open_task(sandbox_hub)
    sandbox_hub.session("admin").makeTask("thing", [], channel="container")
    listed = sandbox_hub.session().listTasks({"state": [koji.TASK_STATES["OPEN"]]})
    assert [t["id"] for t in listed] == [opened]


def test_list_tasks_rows_have_kojihubs_fields(sandbox_hub):
    """RootExports.listTasks: Task.fields, request, result, owner_name and owner_type."""
    sandbox_hub.session("admin").makeTask("thing", [], channel="container")
    (row,) = sandbox_hub.session().listTasks()
    assert set(row) == {
        "id", "state", "create_time", "create_ts", "start_time", "start_ts",
        "completion_time", "completion_ts", "channel_id", "host_id", "parent", "label",
        "waiting", "awaited", "owner", "method", "arch", "priority", "weight",
        "request", "result", "owner_name", "owner_type",
    }  # fmt: skip


def test_get_task_children_lists_only_direct_children(sandbox_hub):
    """RootExports.getTaskChildren -> Task.getChildren: 'parent = id', not grandchildren."""
    admin = sandbox_hub.session("admin")
    parent = open_task(sandbox_hub)
    child = admin.makeTask("part", [], parent=parent)
    sandbox_hub.session("builder").host.openTask(child)
    admin.makeTask("part", [], parent=child)
    assert [t["id"] for t in admin.getTaskChildren(parent)] == [child]


def test_get_task_children_of_a_missing_task_is_empty(sandbox_hub):
    """RootExports.getTaskChildren(strict=False): [] for an id no task has."""
    assert sandbox_hub.session().getTaskChildren(999999) == []


def test_get_task_children_strict_of_a_missing_task_is_an_error(sandbox_hub):
    """RootExports.getTaskChildren(strict=True) -> Task.getInfo(strict=True)."""
    with pytest.raises(koji.GenericError, match="No such task: 999999"):
        sandbox_hub.session().getTaskChildren(999999, strict=True)


# -- listBuilds, listArchives -----------------------------------------------------------


def test_list_builds_of_a_package_in_a_state_lists_only_those(cg_hub):
    """RootExports.listBuilds(packageID, state): 'package.id = ..' and 'build.state = ..'."""
    building = reserve(cg_hub, "1")
    failed = reserve(cg_hub, "2")
    cg_hub.session("builder").CGRefundBuild(CG, failed["build_id"], failed["token"])
    package_id = cg_hub.session().getPackage("demo-image")["id"]
    listed = cg_hub.session().listBuilds(packageID=package_id, state=BUILDING)
    assert [b["id"] for b in listed] == [building["build_id"]]


def test_list_builds_of_a_missing_package_is_empty(sandbox_hub):
    """RootExports.listBuilds: get_package_id finds nothing, so []."""
    assert sandbox_hub.session().listBuilds(packageID="no-such-package") == []


def test_list_builds_of_a_missing_user_is_empty(sandbox_hub):
    """RootExports.listBuilds: get_user finds nothing, so [] (no error)."""
    assert sandbox_hub.session().listBuilds(userID="nobody-here") == []


def test_list_builds_with_task_id_minus_one_lists_only_builds_of_a_task(cg_hub):
    """RootExports.listBuilds(taskID=-1): 'build.task_id IS NOT NULL'."""
    reserve(cg_hub, "1")
    of_task = cg_hub.session("builder").CGInitBuild(
        CG, {"name": "demo-image", "version": "1.0", "release": "2", "task_id": open_task(cg_hub)}
    )
    assert [b["id"] for b in cg_hub.session().listBuilds(taskID=-1)] == [of_task["build_id"]]


def test_list_archives_of_a_build_with_no_archives_is_empty(cg_hub):
    """list_archives(buildID=...): [] for a reserved build with nothing imported yet."""
    reservation = reserve(cg_hub, "1")
    assert cg_hub.session().listArchives(buildID=reservation["build_id"]) == []


# -- getPerms, hasPerm, Session.assertPerm (kojihub/auth.py) ----------------------------


def test_get_perms_of_an_anonymous_caller_is_empty(sandbox_hub):
    """Session.getPerms: [] when not logged in."""
    assert sandbox_hub.session().getPerms() == []


def test_has_perm_of_an_admin_is_only_the_perms_granted(sandbox_hub):
    """Session.hasPerm: 'name in perms', admin does not imply the others."""
    assert sandbox_hub.session("admin").hasPerm("image") is False


def test_has_perm_strict_of_an_undefined_perm_is_an_error(sandbox_hub):
    """RootExports.hasPerm(strict=True): lookup_perm finds no such permission."""
    with pytest.raises(koji.GenericError, match="No such permission no-such-perm defined"):
        sandbox_hub.session("alice").hasPerm("no-such-perm", strict=True)


def test_assert_perm_of_a_missing_perm_is_refused(sandbox_hub):
    """Session.assertPerm: ActionNotAllowed naming the permission and the user."""
    with pytest.raises(
        koji.ActionNotAllowed, match=r"^image permission required \(logged in as alice\)$"
    ):
        sandbox_hub.run_as("alice", lambda: context.session.assertPerm("image"))


def test_assert_perm_of_an_admin_passes_for_every_perm(sandbox_hub):
    """Session.assertPerm: 'admin' stands for every permission."""
    assert sandbox_hub.run_as("admin", lambda: context.session.assertPerm("image")) is None


# -- getHost, host.getID ----------------------------------------------------------------


def test_get_host_of_a_missing_host_is_none(sandbox_hub):
    """get_host(strict=False): None."""
    assert sandbox_hub.session().getHost("no-such-host") is None


def test_host_get_id_of_a_user_that_is_not_a_host_is_refused(sandbox_hub):
    """HostExports.getID -> Host(): AuthError 'User N is not a host'."""
    with pytest.raises(koji.AuthError, match=r"^User \d+ is not a host$"):
        sandbox_hub.session("alice").host.getID()


def test_host_get_id_without_a_login_is_refused(sandbox_hub):
    """HostExports.getID -> Host(): AuthError 'Not logged-in'."""
    with pytest.raises(koji.AuthError, match=r"^Not logged-in$"):
        sandbox_hub.session().host.getID()


# -- getPackage -------------------------------------------------------------------------


def test_get_package_of_a_missing_package_is_none(sandbox_hub):
    """lookup_package(strict=False): None."""
    assert sandbox_hub.session().getPackage("no-such-package") is None


def test_get_package_strict_of_a_missing_package_is_an_error(sandbox_hub):
    """lookup_package(strict=True) -> lookup_name: 'No such entry in table package'."""
    with pytest.raises(koji.GenericError, match=r"^No such entry in table package: nope$"):
        sandbox_hub.session().getPackage("nope", strict=True)
