"""The sandbox hub's subtask calls, held to kojihub's rules (HostExports.subtask, taskWait...)."""

from __future__ import annotations

import koji
import koji.xmlrpcplus
import pytest

from tests.conftest import open_task

STATES = koji.TASK_STATES


@pytest.fixture
def hub(sandbox_hub):
    sandbox_hub.add_user("builder-arm", "builder-arm", host=True, arches="aarch64")
    sandbox_hub.add_host_to_channel("builder-arm", "container")
    return sandbox_hub


def subtask(hub, parent, arch="aarch64", host="builder", **opts):
    return hub.session(host).host.subtask(
        "buildContainerArch", ["git://x/y#1", "demo", arch, {}], parent, arch=arch, **opts
    )


def close(hub, task_id, host="builder-arm", result="done"):
    session = hub.session(host)
    session.host.openTask(task_id)
    session.host.closeTask(task_id, koji.xmlrpcplus.dumps((result,), methodresponse=1))


def fail(hub, task_id, host="builder-arm", text="RUN exited with 1"):
    session = hub.session(host)
    session.host.openTask(task_id)
    fault = koji.xmlrpcplus.Fault(koji.BuildError.faultCode, text)
    session.host.failTask(task_id, koji.xmlrpcplus.dumps(fault))


def test_subtask_inherits_channel_and_owner_and_runs_before_its_parent(hub):
    parent = open_task(hub)
    child = hub.session("admin").getTaskInfo(subtask(hub, parent, label="aarch64"))
    info = hub.session("admin").getTaskInfo(parent)
    assert (child["parent"], child["channel_id"], child["owner"], child["priority"]) == (
        parent,
        info["channel_id"],
        info["owner"],
        info["priority"] - 1,
    )


def test_subtask_asked_again_with_its_label_is_the_same_task(hub):
    parent = open_task(hub)
    assert subtask(hub, parent, label="aarch64") == subtask(hub, parent, label="aarch64")


def test_subtasks_without_a_label_are_new_tasks(hub):
    parent = open_task(hub)
    assert subtask(hub, parent) != subtask(hub, parent)


def test_subtask_of_a_task_another_host_has_open_is_refused(hub):
    parent = open_task(hub, host="builder-arm")
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {parent}"):
        subtask(hub, parent)


def test_subtask_of_a_finished_task_is_refused(hub):
    parent = open_task(hub)
    hub.session("builder").host.closeTask(parent, koji.xmlrpcplus.dumps((1,), methodresponse=1))
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {parent}"):
        subtask(hub, parent)


def test_subtask_with_an_owner_is_refused(hub):
    parent = open_task(hub)
    with pytest.raises(koji.ActionNotAllowed, match="owner option is not allowed"):
        subtask(hub, parent, owner="admin")


def test_subtask_arch_that_is_no_arch_name_is_refused(hub):
    parent = open_task(hub)
    with pytest.raises(koji.GenericError, match=r"Architecture can be only \[a-zA-Z0-9_-\]"):
        subtask(hub, parent, arch="../x")


def test_subtask_label_that_is_no_string_is_refused(hub):
    parent = open_task(hub)
    with pytest.raises(koji.ParameterError, match="expected type <class 'str'>"):
        subtask(hub, parent, label=7)


def test_arch_subtask_is_offered_only_to_hosts_of_its_arch(hub):
    parent = open_task(hub)
    child = subtask(hub, parent)
    offered = {
        host: child in [t["id"] for t in hub.session(host).host.getTasks()]
        for host in ("builder", "builder-arm")
    }
    assert offered == {"builder": False, "builder-arm": True}


def test_task_wait_lists_finished_and_unfinished_awaited_subtasks(hub):
    parent = open_task(hub)
    done, running = subtask(hub, parent), subtask(hub, parent)
    host = hub.session("builder").host
    host.taskSetWait(parent, None)
    close(hub, done)
    assert host.taskWait(parent) == [[done], [running]]


def test_task_wait_reports_a_finished_subtask_once(hub):
    parent = open_task(hub)
    done, running = subtask(hub, parent), subtask(hub, parent)
    host = hub.session("builder").host
    host.taskSetWait(parent, None)
    close(hub, done)
    host.taskWait(parent)
    assert host.taskWait(parent) == [[], [running]]


def test_waiting_parent_is_alerted_once_an_awaited_subtask_finished(hub):
    parent = open_task(hub)
    child = subtask(hub, parent)
    host = hub.session("builder").host
    host.taskSetWait(parent, [child])
    before = [t.get("alert", False) for t in host.getHostTasks() if t["id"] == parent]
    close(hub, child)
    after = [t.get("alert", False) for t in host.getHostTasks() if t["id"] == parent]
    assert (before, after) == ([False], [True])


def test_task_wait_results_return_each_result(hub):
    parent = open_task(hub)
    first, second = subtask(hub, parent), subtask(hub, parent)
    close(hub, first, result={"arch": "aarch64"})
    close(hub, second, result={"arch": "x86_64"})
    results = hub.session("builder").host.taskWaitResults(parent, [first, second])
    assert results == [[first, {"arch": "aarch64"}], [second, {"arch": "x86_64"}]]


def test_task_wait_results_raise_the_fault_of_a_failed_subtask(hub):
    parent = open_task(hub)
    child = subtask(hub, parent)
    fail(hub, child)
    with pytest.raises(koji.BuildError, match="RUN exited with 1"):
        hub.session("builder").host.taskWaitResults(parent, [child])


def test_task_wait_results_give_a_cancelled_canfail_subtask_as_a_fault(hub):
    parent = open_task(hub)
    child = subtask(hub, parent)
    hub.session("admin").cancelTask(child)
    [[task_id, result]] = hub.session("builder").host.taskWaitResults(
        parent, [child], canfail=[child]
    )
    assert (task_id, result["faultString"]) == (child, f"Task {child} is canceled")


def test_cancelling_the_parent_cancels_its_subtasks(hub):
    parent = open_task(hub)
    children = [subtask(hub, parent), subtask(hub, parent)]
    hub.session("admin").cancelTask(parent)
    states = [hub.session("admin").getTaskInfo(c)["state"] for c in children]
    assert states == [STATES["CANCELED"], STATES["CANCELED"]]


def test_parent_host_may_cancel_the_children_of_its_open_task(hub):
    parent = open_task(hub)
    child = subtask(hub, parent)
    hub.session("builder").cancelTaskChildren(parent)
    assert hub.session("admin").getTaskInfo(child)["state"] == STATES["CANCELED"]
