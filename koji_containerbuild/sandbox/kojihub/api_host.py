"""Hub API for builder hosts (the `host.*` calls kojid makes)."""

from __future__ import annotations

import time

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export, refuse_non_host
from koji_containerbuild.sandbox.kojihub.api_core import host_info
from koji_containerbuild.sandbox.kojihub.api_maketask import make_task
from koji_containerbuild.sandbox.kojihub.api_tasks import (
    STATES,
    getTaskResult,
    task_info,
    task_row,
)

#: States in which a task is finished, for waiting parents.
FINISHED_STATES = (STATES["CLOSED"], STATES["FAILED"], STATES["CANCELED"])

# ---------------------------------------------------------------- host API


def this_host() -> dict:
    session = context.session
    host = None
    if session.logged_in:
        host = current().db.one("SELECT * FROM hosts WHERE user_id = ?", (session.user_id,))
    if host is None:
        refuse_non_host(session)
    return host


def _assert_task_host(task_id: int, host: dict) -> dict:
    row = task_row(task_id)
    if row["host_id"] != host["id"]:
        raise koji.ActionNotAllowed(f"host {host['id']} is not assigned task {task_id}")
    return row


@export("host.getID")
def host_get_id():
    return this_host()["id"]


@export("host.getHost")
def host_get_host():
    return host_info(this_host())


@export("host.updateHost")
def host_update_host(task_load, ready, data=None):
    host = this_host()
    with current().db.write() as cnx:
        cnx.execute(
            "UPDATE hosts SET task_load = ?, ready = ? WHERE id = ?",
            (float(task_load), int(bool(ready)), host["id"]),
        )


def host_channels(host_id: int) -> set[int]:
    rows = current().db.all("SELECT channel_id FROM host_channels WHERE host_id = ?", (host_id,))
    return {row["channel_id"] for row in rows}


def host_takes(host: dict, task: dict, channels: set[int] | None = None) -> bool:
    """Whether the hub hands ``task`` to ``host``: kojihub's scheduler bins.

    A task goes to an enabled host in the task's channel whose arches list
    the task's arch; a noarch task to any such host in the channel.
    """
    if not host["enabled"]:
        return False
    if task["arch"] != "noarch" and task["arch"] not in host["arches"].split():
        return False
    if channels is None:
        channels = host_channels(host["id"])
    return task["channel_id"] in channels


@export("host.getTasks")
def host_get_tasks():
    """Tasks this host may take: free ones in its channels and arches, and its assigned."""
    host = this_host()
    if not host["enabled"]:
        return []
    channels = host_channels(host["id"])
    rows = current().db.all(
        "SELECT * FROM tasks WHERE state = ? OR (state = ? AND host_id = ?) "
        "ORDER BY priority, create_ts",
        (STATES["FREE"], STATES["ASSIGNED"], host["id"]),
    )
    return [
        task_info(r) for r in rows if r["host_id"] == host["id"] or host_takes(host, r, channels)
    ]


@export("host.getHostTasks")
def host_get_host_tasks():
    """This host's tasks; a waiting one whose awaited subtasks finished has ``alert``.

    kojid wakes such a task's process (SIGUSR2) out of BaseTaskHandler.wait.
    """
    host = this_host()
    rows = current().db.all(
        "SELECT * FROM tasks WHERE host_id = ? AND state IN (?, ?) ORDER BY id",
        (host["id"], STATES["OPEN"], STATES["ASSIGNED"]),
    )
    tasks = [task_info(r) for r in rows]
    for task in tasks:
        if task["waiting"] and task["state"] == STATES["OPEN"] and _wait_check(task["id"])[0]:
            task["alert"] = True
    return tasks


@export("host.getLoadData")
def host_get_load_data():
    this_host()
    hosts = listHostsReady()
    return [hosts, host_get_tasks()]


def listHostsReady() -> list[dict]:
    rows = current().db.all("SELECT * FROM hosts WHERE ready = 1 AND enabled = 1")
    infos = [host_info(r) for r in rows]
    for info in infos:
        info["channels"] = [
            r["channel_id"]
            for r in current().db.all(
                "SELECT channel_id FROM host_channels WHERE host_id = ?", (info["id"],)
            )
        ]
    return infos


@export("host.openTask")
def host_open_task(task_id):
    """Open a free task the scheduler would give this host, or one assigned to it.

    kojihub's scheduler only assigns a host tasks of its channels and arches
    and kojid opens only what it was assigned; a free task outside them is
    refused here (None), as a task assigned to another host is.
    """
    host = this_host()
    row = task_row(task_id)  # kojihub: "No such task"
    hub = current()
    if row["state"] == STATES["FREE"] and not host_takes(host, row):
        return None
    with hub.db.write() as cnx:
        changed = cnx.execute(
            "UPDATE tasks SET state = ?, host_id = ?, start_ts = ? WHERE id = ? AND "
            "(state = ? OR (state = ? AND host_id = ?))",
            (
                STATES["OPEN"],
                host["id"],
                time.time(),
                task_id,
                STATES["FREE"],
                STATES["ASSIGNED"],
                host["id"],
            ),
        ).rowcount
        if changed:
            hub.db.new_event(cnx)
    if not changed:
        return None
    return task_info(task_row(task_id), request=True)


def _finish(task_id, response, state: int) -> None:
    host = this_host()
    row = _assert_task_host(task_id, host)
    if row["state"] != STATES["OPEN"]:
        # Task.assertHost: only the host that has the task OPEN may close or fail it;
        # a task cancelled (or freed) while its handler ran keeps that outcome
        raise koji.ActionNotAllowed(f"host {host['id']} does not own task {task_id}")
    hub = current()
    with hub.db.write() as cnx:
        cnx.execute(
            "UPDATE tasks SET state = ?, result = ?, completion_ts = ? WHERE id = ? AND state = ?",
            (state, response, time.time(), task_id, STATES["OPEN"]),
        )
        hub.db.new_event(cnx)
    if row["parent"] is not None:
        # a parent may be waiting for it: its host's worker wakes it now, not at its poll
        hub.notify_task_change()


@export("host.closeTask")
def host_close_task(task_id, response):
    _finish(task_id, response, STATES["CLOSED"])


@export("host.failTask")
def host_fail_task(task_id, response):
    _finish(task_id, response, STATES["FAILED"])


def _free(cnx, task_id: int) -> None:
    cnx.execute(
        "UPDATE tasks SET state = ?, host_id = NULL, start_ts = NULL WHERE id = ?",
        (STATES["FREE"], task_id),
    )


@export("host.freeTasks")
def host_free_tasks(tasks):
    """As Host.freeTasks: the tasks this host has OPEN are freed, the others left alone."""
    host = this_host()
    owned = [
        task_id
        for task_id, row in ((task_id, task_row(task_id)) for task_id in tasks)
        if row["state"] == STATES["OPEN"] and row["host_id"] == host["id"]
    ]
    hub = current()
    with hub.db.write() as cnx:
        for task_id in owned:
            cnx.execute(
                "UPDATE tasks SET state = ?, host_id = NULL, start_ts = NULL "
                "WHERE id = ? AND host_id = ? AND state = ?",
                (STATES["FREE"], task_id, host["id"], STATES["OPEN"]),
            )
        hub.db.new_event(cnx)
    hub.notify_task_change()


@export("host.refuseTask")
def host_refuse_task(task_id, soft=True, msg=""):
    """As Host.refuseTask: a task of another host is ignored; one that is over cannot be freed."""
    host = this_host()
    row = task_row(task_id)
    if row["host_id"] != host["id"]:
        return
    if koji.TASK_STATES[row["state"]] in ("CLOSED", "CANCELED", "FAILED"):
        raise koji.GenericError(
            f"Cannot free task {task_id}, state is {koji.TASK_STATES[row['state']]}"
        )
    hub = current()
    with hub.db.write() as cnx:
        _free(cnx, task_id)
        hub.db.new_event(cnx)


@export("host.setTaskWeight")
def host_set_task_weight(task_id, weight):
    host = this_host()
    _assert_task_host(task_id, host)
    with current().db.write() as cnx:
        cnx.execute("UPDATE tasks SET weight = ? WHERE id = ?", (float(weight), task_id))


@export("host.assertPolicy")
def host_assert_policy(name, data, default="deny"):
    this_host()
    result = current().evaluate_policy(name, data) or default
    if result.split()[0] != "allow":
        reason = result.partition(" ")[2]
        raise koji.ActionNotAllowed(
            f"policy violation ({name})" + (f": {reason}" if reason else "")
        )


@export("host.evalPolicy")
def host_eval_policy(name, data):
    this_host()
    return current().evaluate_policy(name, data)


# ---------------------------------------------------------------- subtasks


@export("host.subtask")
def host_subtask(method, arglist, parent, **opts):
    """A child task of ``parent``, which this host must have OPEN (kojihub's rules).

    The owner comes from the parent; a label names the subtask once: asking
    again for the same parent and label returns the existing task, so a
    re-run of the parent never makes a second one.
    """
    host = this_host()
    _assert_open_on(parent, host)
    if "owner" in opts:
        raise koji.ActionNotAllowed("The owner option is not allowed here")
    opts["parent"] = parent
    if "label" in opts:
        row = current().db.one(
            "SELECT id FROM tasks WHERE parent = ? AND label = ?", (parent, opts["label"])
        )
        if row is not None:
            return row["id"]
    if "kwargs" in opts:
        arglist = koji.encode_args(*arglist, **opts.pop("kwargs"))
    return make_task(method, arglist, **opts)


@export("host.subtask2")
def host_subtask2(parent, taskopts, method, *args, **opts):
    return host_subtask(method, koji.encode_args(*args, **opts), parent, **taskopts)


def _assert_open_on(task_id: int, host: dict) -> None:
    """Task.assertHost: the task is OPEN and this host's."""
    row = task_row(task_id)
    if row["state"] != STATES["OPEN"] or row["host_id"] != host["id"]:
        raise koji.ActionNotAllowed(f"host {host['id']} does not own task {task_id}")


@export("host.taskSetWait")
def host_task_set_wait(parent, tasks):
    """Mark ``parent`` waiting and ``tasks`` (None: all its children) awaited."""
    this_host()
    if tasks is not None and not isinstance(tasks, (list, tuple)):
        raise koji.ParameterError(
            f"Invalid type for value '{tasks}': {type(tasks)}, expected type <class 'list'>"
        )
    hub = current()
    with hub.db.write() as cnx:
        cnx.execute("UPDATE tasks SET waiting = 1 WHERE id = ?", (parent,))
        if tasks is None:
            cnx.execute("UPDATE tasks SET awaited = 1 WHERE parent = ?", (parent,))
        elif tasks:
            marks = ",".join("?" * len(tasks))
            cnx.execute(
                f"UPDATE tasks SET awaited = 1 WHERE parent = ? AND id IN ({marks})",
                (parent, *tasks),
            )
            cnx.execute(
                f"UPDATE tasks SET awaited = 0 WHERE parent = ? AND id NOT IN ({marks}) "
                "AND awaited = 1",
                (parent, *tasks),
            )


def _wait_check(parent: int) -> tuple[list[int], list[int]]:
    """[finished, unfinished] ids of the awaited children of ``parent``."""
    rows = current().db.all(
        "SELECT id, state FROM tasks WHERE parent = ? AND awaited = 1 ORDER BY id", (parent,)
    )
    finished = [r["id"] for r in rows if r["state"] in FINISHED_STATES]
    unfinished = [r["id"] for r in rows if r["state"] not in FINISHED_STATES]
    return finished, unfinished


@export("host.taskWait")
def host_task_wait(parent):
    """[finished, unfinished] awaited children; the finished ones are no longer awaited."""
    this_host()
    finished, unfinished = _wait_check(parent)
    if finished:
        with current().db.write() as cnx:
            for task_id in sorted(finished):
                cnx.execute("UPDATE tasks SET awaited = 0 WHERE id = ?", (task_id,))
    return [finished, unfinished]


@export("host.taskWaitResults")
def host_task_wait_results(parent, tasks, canfail=None):
    """[[id, result], ...]; a failed or cancelled task raises unless in ``canfail``."""
    this_host()
    canfail = list(canfail or [])
    with current().db.write() as cnx:
        cnx.execute("UPDATE tasks SET waiting = 0 WHERE id = ?", (parent,))
        cnx.execute("UPDATE tasks SET awaited = 0 WHERE parent = ?", (parent,))
    if tasks is None:
        marks = ",".join("?" * len(FINISHED_STATES))
        rows = current().db.all(
            f"SELECT id FROM tasks WHERE parent = ? AND state IN ({marks}) ORDER BY id",
            (parent, *FINISHED_STATES),
        )
        tasks = [r["id"] for r in rows]
    results = []
    for task_id in tasks:
        raise_fault = task_id not in canfail
        try:
            results.append([task_id, getTaskResult(task_id, raise_fault=raise_fault)])
        except koji.GenericError as error:
            if not raise_fault and task_row(task_id)["state"] == STATES["CANCELED"]:
                results.append(
                    [task_id, {"faultCode": error.faultCode, "faultString": str(error)}]
                )
                continue
            raise
    return results
