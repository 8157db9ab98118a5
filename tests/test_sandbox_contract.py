"""The sandbox hub's fidelity, checked call by call against the kojihub code it mirrors.

One test per behaviour of a hub call the plugins and the demo use; each
docstring names the kojihub (koji-project/koji kojihub/kojihub.py) function
whose refusal or effect the sandbox must match. Where the sandbox was more
lenient than kojihub, these tests failed before the sandbox was fixed.
"""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.sandbox.kojihub import api_core
from tests.conftest import open_task
from tests.test_sandbox_cg import CG, IMAGE, LOG, metadata, reserve_and_upload

BUILDING, COMPLETE, CANCELED_BUILD = (
    koji.BUILD_STATES[s] for s in ("BUILDING", "COMPLETE", "CANCELED")
)


@pytest.fixture
def cg_hub(sandbox_hub):
    sandbox_hub.grant_cg_access("builder", CG)
    return sandbox_hub


# -- CGImport ---------------------------------------------------------------------------


def test_reserved_cg_import_updates_only_kojihubs_columns(cg_hub):
    """CG_Importer.update_build: a reserved build gets state, extra, owner, source,
    task_id and the completion time; its start time stays the reservation's."""
    builder, reservation = reserve_and_upload(cg_hub)
    before = cg_hub.session().getBuild(reservation["build_id"])
    task_id = open_task(cg_hub)

    after = builder.CGImport(
        metadata(reservation["build_id"], task_id=task_id), "cg/import-1",
        token=reservation["token"],
    )  # fmt: skip

    changed = {key for key in before if before[key] != after[key]}
    assert changed == {
        "state", "extra", "owner_id", "owner_name", "source", "task_id",
        "completion_time", "completion_ts",
    }  # fmt: skip
    assert after["start_ts"] == before["start_ts"]


# -- cancelTask -------------------------------------------------------------------------


def test_cancel_task_cancels_its_building_builds(cg_hub):
    """Task.cancel: the task's BUILDING builds become CANCELED (cancel_build) and
    lose their CG reservation, so the import of one is refused."""
    task_id = open_task(cg_hub)
    builder = cg_hub.session("builder")
    reservation = builder.CGInitBuild(
        CG, {"name": "demo-image", "version": "1.0", "release": "1", "task_id": task_id}
    )
    builder.rawUpload(IMAGE, 0, "cg/import-1", "image-x86_64.tar.gz")
    builder.rawUpload(LOG, 0, "cg/import-1", "x86_64.log")

    cg_hub.session("admin").cancelTask(task_id)

    assert cg_hub.session().getBuild(reservation["build_id"])["state"] == CANCELED_BUILD
    meta = metadata(reservation["build_id"], task_id=task_id)
    with pytest.raises(koji.GenericError, match="Token doesn't match"):
        builder.CGImport(meta, "cg/import-1", token=reservation["token"])


def test_cancel_task_leaves_the_builds_of_other_tasks(cg_hub):
    """Task.cancel: only builds whose task_id is the cancelled task are cancelled."""
    task_id = open_task(cg_hub)
    builder = cg_hub.session("builder")
    other = builder.CGInitBuild(CG, {"name": "demo-image", "version": "1.0", "release": "2"})

    cg_hub.session("admin").cancelTask(task_id)

    assert cg_hub.session().getBuild(other["build_id"])["state"] == BUILDING


def test_cancel_of_a_closed_task_leaves_its_children(sandbox_hub):
    """Task.cancel: a task already CLOSED is not cancelled, and neither are its children."""
    admin = sandbox_hub.session("admin")
    parent = open_task(sandbox_hub)
    child = admin.makeTask("part", [], parent=parent)
    host = sandbox_hub.session("builder").host
    host.closeTask(parent, koji.xmlrpcplus.dumps(({},), methodresponse=1))

    admin.cancelTask(parent)

    assert koji.TASK_STATES[admin.getTaskInfo(child)["state"]] == "FREE"


# -- listTaskOutput ---------------------------------------------------------------------


def test_list_task_output_lists_exactly_the_files_uploaded(sandbox_hub):
    """list_task_output: every file in the task's directory, nothing hidden or added."""
    task_id = open_task(sandbox_hub)
    builder = sandbox_hub.session("builder")
    builder.rawUpload(b"line\n", 0, koji.pathinfo.taskrelpath(task_id), "x86_64.log")

    assert sandbox_hub.session().listTaskOutput(task_id) == ["x86_64.log"]


# -- host.closeTask, host.freeTasks, host.refuseTask ------------------------------------


def test_close_task_of_a_cancelled_task_is_refused(sandbox_hub):
    """Host.closeTask: Task.assertHost, the host must have the task OPEN; it stays CANCELED."""
    task_id = open_task(sandbox_hub)
    sandbox_hub.session("admin").cancelTask(task_id)
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {task_id}"):
        sandbox_hub.session("builder").host.closeTask(
            task_id, koji.xmlrpcplus.dumps(({},), methodresponse=1)
        )
    assert koji.TASK_STATES[sandbox_hub.session().getTaskInfo(task_id)["state"]] == "CANCELED"


def test_free_tasks_leaves_a_task_only_assigned_to_this_host(sandbox_hub):
    """Host.freeTasks: only tasks for which Task.verifyHost holds (OPEN on this host)."""
    admin = sandbox_hub.session("admin")
    builder = sandbox_hub.session("builder")
    task_id = admin.makeTask("thing", [], channel="container", assign=builder.host.getID())
    builder.host.freeTasks([task_id])
    assert koji.TASK_STATES[admin.getTaskInfo(task_id)["state"]] == "ASSIGNED"


def test_free_tasks_leaves_the_task_of_another_host(sandbox_hub):
    """Host.freeTasks: a task OPEN on another host is skipped without an error."""
    task_id = open_task(sandbox_hub)
    sandbox_hub.add_user("builder2", "builder2", host=True)
    sandbox_hub.session("builder2").host.freeTasks([task_id])
    assert koji.TASK_STATES[sandbox_hub.session().getTaskInfo(task_id)["state"]] == "OPEN"


def test_refuse_task_of_a_cancelled_task_is_an_error(sandbox_hub):
    """Host.refuseTask: Task.free refuses a task that is CLOSED, CANCELED or FAILED."""
    task_id = open_task(sandbox_hub)
    sandbox_hub.session("admin").cancelTask(task_id)
    with pytest.raises(koji.GenericError, match=f"Cannot free task {task_id}, state is CANCELED"):
        sandbox_hub.session("builder").host.refuseTask(task_id)


def test_refuse_task_frees_the_open_task(sandbox_hub):
    """Host.refuseTask: the host's task goes back to FREE for another host."""
    task_id = open_task(sandbox_hub)
    sandbox_hub.session("builder").host.refuseTask(task_id)
    info = sandbox_hub.session().getTaskInfo(task_id)
    assert (koji.TASK_STATES[info["state"]], info["host_id"]) == ("FREE", None)


# -- host.openTask ----------------------------------------------------------------------


def test_open_task_of_a_missing_task_is_an_error(sandbox_hub):
    """Host.openTask -> Task.lock: 'No such task'."""
    with pytest.raises(koji.GenericError, match="No such task"):
        sandbox_hub.session("builder").host.openTask(999999)


def test_open_task_of_a_task_assigned_to_another_host_is_none(sandbox_hub):
    """Task.lock: a task ASSIGNED to someone else is not opened (None, no error)."""
    sandbox_hub.add_user("builder2", "builder2", host=True)
    other = sandbox_hub.session("builder2").host.getID()
    task_id = sandbox_hub.session("admin").makeTask("thing", [], channel="container", assign=other)
    assert sandbox_hub.session("builder").host.openTask(task_id) is None


def test_open_task_of_a_cancelled_task_is_none(sandbox_hub):
    """Task.lock: a task cancelled meanwhile is not opened."""
    admin = sandbox_hub.session("admin")
    task_id = admin.makeTask("thing", [], channel="container")
    admin.cancelTask(task_id)
    assert sandbox_hub.session("builder").host.openTask(task_id) is None


# -- logout, logoutChild (kojihub/auth.py) ----------------------------------------------


def _session_alive(hub, sinfo) -> bool:
    return hub.db.one("SELECT id FROM sessions WHERE id = ?", (sinfo["session-id"],)) is not None


def test_logout_without_a_login_is_an_auth_error(sandbox_hub):
    """Session.logout: 'Not logged in'."""
    with pytest.raises(koji.AuthError, match="Not logged in"):
        sandbox_hub.call("logout")


def test_logout_of_another_users_session_is_refused(sandbox_hub):
    """Session.logout(session_id): only admins or the session's owner."""
    theirs = sandbox_hub.run_as("builder", lambda: api_core.subsession())
    with pytest.raises(koji.ActionNotAllowed, match="only admins or owner"):
        sandbox_hub.call("logout", [theirs["session-id"]], session_user="alice")
    assert _session_alive(sandbox_hub, theirs)


def test_logout_child_ends_only_a_subsession_of_the_caller(sandbox_hub):
    """Session.logoutChild: a session that is not the caller's child stays."""
    mine = sandbox_hub.run_as("builder", lambda: api_core.subsession())
    other = sandbox_hub.run_as("builder", lambda: api_core.subsession())
    # as the session 'mine': 'other' is a sibling, not its child
    session = sandbox_hub.session_from_credentials(mine["session-id"], mine["session-key"])
    sandbox_hub.dispatch("logoutChild", (other["session-id"],), {}, session)
    assert _session_alive(sandbox_hub, other)
