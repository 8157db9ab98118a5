"""Hub API for builder hosts (the `host.*` calls kojid makes)."""

from __future__ import annotations

import time

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export
from koji_containerbuild.sandbox.kojihub.api_core import host_info
from koji_containerbuild.sandbox.kojihub.api_tasks import STATES, task_info, task_row

# ---------------------------------------------------------------- host API


def this_host() -> dict:
    session = context.session
    session.assertLogin()
    host = current().db.one("SELECT * FROM hosts WHERE user_id = ?", (session.user_id,))
    if host is None:
        raise koji.AuthError("No host specified")
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


@export("host.getTasks")
def host_get_tasks():
    """Tasks this host may take: free ones in its channels and arches, and its assigned."""
    host = this_host()
    arches = [*host["arches"].split(), "noarch"]
    rows = current().db.all(
        "SELECT * FROM tasks WHERE (state = ? AND channel_id IN "
        "(SELECT channel_id FROM host_channels WHERE host_id = ?)) "
        "OR (state = ? AND host_id = ?) ORDER BY priority, create_ts",
        (STATES["FREE"], host["id"], STATES["ASSIGNED"], host["id"]),
    )
    return [task_info(r) for r in rows if r["arch"] in arches or r["host_id"] == host["id"]]


@export("host.getHostTasks")
def host_get_host_tasks():
    host = this_host()
    rows = current().db.all(
        "SELECT * FROM tasks WHERE host_id = ? AND state IN (?, ?) ORDER BY id",
        (host["id"], STATES["OPEN"], STATES["ASSIGNED"]),
    )
    return [task_info(r) for r in rows]


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
    host = this_host()
    hub = current()
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
        # cancelled (or freed) while the handler ran: keep that outcome
        return
    hub = current()
    with hub.db.write() as cnx:
        cnx.execute(
            "UPDATE tasks SET state = ?, result = ?, completion_ts = ? WHERE id = ? AND state = ?",
            (state, response, time.time(), task_id, STATES["OPEN"]),
        )
        hub.db.new_event(cnx)


@export("host.closeTask")
def host_close_task(task_id, response):
    _finish(task_id, response, STATES["CLOSED"])


@export("host.failTask")
def host_fail_task(task_id, response):
    _finish(task_id, response, STATES["FAILED"])


@export("host.freeTasks")
def host_free_tasks(tasks):
    host = this_host()
    hub = current()
    with hub.db.write() as cnx:
        for task_id in tasks:
            cnx.execute(
                "UPDATE tasks SET state = ?, host_id = NULL, start_ts = NULL WHERE id = ? "
                "AND host_id = ? AND state IN (?, ?)",
                (STATES["FREE"], task_id, host["id"], STATES["OPEN"], STATES["ASSIGNED"]),
            )
        hub.db.new_event(cnx)
    hub.notify_task_change()


@export("host.refuseTask")
def host_refuse_task(task_id, soft=True, msg=""):
    host_free_tasks([task_id])


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
