"""Hub API: task queries, cancelling, policies (task creation is :mod:`.api_maketask`)."""

from __future__ import annotations

import time

import koji
import koji.tasks
import koji.xmlrpcplus
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export, format_ts
from koji_containerbuild.sandbox.kojihub.api_core import user_row

STATES = koji.TASK_STATES
OPEN_STATES = (STATES["FREE"], STATES["OPEN"], STATES["ASSIGNED"])
_INFO_FIELDS = (
    "id",
    "state",
    "channel_id",
    "host_id",
    "parent",
    "label",
    "waiting",
    "awaited",
    "owner",
    "method",
    "arch",
    "priority",
    "weight",
)


def task_row(task_id, strict: bool = True) -> dict | None:
    row = current().db.one("SELECT * FROM tasks WHERE id = ?", (task_id,))
    if row is None and strict:
        raise koji.GenericError(f"No such task: {task_id}")
    return row


def decode_request(text: str) -> list:
    params, _method = koji.xmlrpcplus.loads(text)
    return list(params)


def task_info(row: dict, request: bool = False) -> dict:
    info = {key: row[key] for key in _INFO_FIELDS}
    for name in ("create", "start", "completion"):
        ts = row[f"{name}_ts"]
        info[f"{name}_time"] = format_ts(ts)
        info[f"{name}_ts"] = ts
    if request:
        info["request"] = decode_request(row["request"])
    return info


@export()
def getTaskInfo(task_id, request=False, strict=False):
    if isinstance(task_id, (list, tuple)):
        return [getTaskInfo(one, request, strict) for one in task_id]
    row = task_row(task_id, strict=strict)
    return task_info(row, request) if row else None


@export()
def getTaskRequest(taskId):
    return decode_request(task_row(taskId)["request"])


@export()
def getTaskResult(task_id, raise_fault=True):
    row = task_row(task_id)
    if row["state"] == STATES["CANCELED"]:
        raise koji.GenericError(f"Task {task_id} is canceled")
    if row["state"] not in (STATES["CLOSED"], STATES["FAILED"]):
        raise koji.GenericError(f"Task {task_id} is not finished")
    try:
        result, _method = koji.xmlrpcplus.loads(row["result"])
    except koji.Fault as fault:
        if raise_fault:
            raise
        return {"faultCode": fault.faultCode, "faultString": fault.faultString}
    return result[0]


@export()
def taskFinished(taskId):
    return task_row(taskId)["state"] not in OPEN_STATES


@export()
def getTaskChildren(task_id, request=False, strict=False):
    if strict:
        task_row(task_id)
    rows = current().db.all("SELECT * FROM tasks WHERE parent = ? ORDER BY id", (task_id,))
    return [task_info(r, request) for r in rows]


@export()
def getTaskDescendents(task_id, request=False):
    result = {}
    pending = [task_id]
    while pending:
        parent = pending.pop(0)
        children = getTaskChildren(parent, request)
        result[str(parent)] = children
        pending.extend(child["id"] for child in children)
    return result


_LIST_FILTERS = {
    "id": "t.id",
    "owner": "t.owner",
    "method": "t.method",
    "state": "t.state",
    "parent": "t.parent",
    "host_id": "t.host_id",
    "channel_id": "t.channel_id",
    "arch": "t.arch",
}
#: The int options kojihub's listTasks reads as 'IS NULL' when given as None.
_NULLABLE_FILTERS = ("owner", "host_id", "channel_id", "parent")


@export()
def listTasks(opts=None, queryOpts=None):
    opts = dict(opts or {})
    clauses, params = [], []
    for key, column in _LIST_FILTERS.items():
        if key not in opts:
            continue
        value = opts[key]
        if value is None:
            if key in _NULLABLE_FILTERS:  # as kojihub: None means 'IS NULL', not 'any'
                clauses.append(f"{column} IS NULL")
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        clauses.append("{} IN ({})".format(column, ",".join("?" * len(values))))
        params.extend(values)
    if opts.get("not_state") is not None:
        values = opts["not_state"]
        values = values if isinstance(values, (list, tuple)) else [values]
        clauses.append("t.state NOT IN ({})".format(",".join("?" * len(values))))
        params.extend(values)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = current().db.all(
        "SELECT t.*, u.name AS owner_name, u.usertype AS owner_type "
        "FROM tasks t JOIN users u ON u.id = t.owner" + where,
        tuple(params),
    )
    tasks = []
    for row in rows:
        info = task_info(row)
        info.update({k: row[k] for k in ("owner_name", "owner_type")})
        if opts.get("decode"):
            info["request"] = decode_request(row["request"])
            info["result"] = _decoded_result(row["result"])
        else:
            info["request"] = row["request"]
            info["result"] = row["result"]
        tasks.append(info)
    return apply_query_opts(tasks, queryOpts)


def _decoded_result(text):
    if text is None:
        return None
    try:
        return koji.xmlrpcplus.loads(text)[0][0]
    except koji.Fault as fault:
        return {"faultCode": fault.faultCode, "faultString": fault.faultString}


def apply_query_opts(rows: list[dict], query_opts) -> list | int:
    """The subset of QueryProcessor's queryOpts clients use: order, offset, limit, count."""
    query_opts = query_opts or {}
    order = query_opts.get("order")
    if order:
        for key in reversed(order.split(",")):
            reverse = key.startswith("-")
            key = key.lstrip("-")
            rows.sort(key=lambda r, k=key: (r.get(k) is None, r.get(k)), reverse=reverse)
    offset = query_opts.get("offset") or 0
    limit = query_opts.get("limit")
    rows = rows[offset:] if limit is None else rows[offset : offset + limit]
    if query_opts.get("countOnly"):
        return len(rows)
    return rows


def cancel_task(task_id: int, recurse: bool = True) -> bool:
    hub = current()
    with hub.db.write() as cnx:
        changed = cnx.execute(
            "UPDATE tasks SET state = ?, completion_ts = ? WHERE id = ? AND state IN (?, ?, ?)",
            (STATES["CANCELED"], time.time(), task_id, *OPEN_STATES),
        ).rowcount
        if changed:
            hub.db.new_event(cnx)
            # As Task.cancel: the task's BUILDING builds are cancelled, reservations dropped.
            cnx.execute(
                "UPDATE builds SET state = ?, completion_ts = ?, token = NULL "
                "WHERE task_id = ? AND state = ?",
                (koji.BUILD_STATES["CANCELED"], time.time(), task_id,
                 koji.BUILD_STATES["BUILDING"]),
            )  # fmt: skip
    if recurse and changed:  # as Task.cancel: a task already over keeps its children
        for child in hub.db.all("SELECT id FROM tasks WHERE parent = ?", (task_id,)):
            cancel_task(child["id"], recurse=True)
    if changed:
        hub.notify_task_change()
    return bool(changed)


def _assert_may_cancel(row: dict) -> None:
    """As the real hub: the owner, the host that has the task open, or an admin."""
    session = context.session
    runs_it = (
        row["state"] == koji.TASK_STATES["OPEN"]
        and session.getHostId() is not None
        and row["host_id"] == session.getHostId()
    )
    if not session.isUser(row["owner"]) and not runs_it and not session.hasPerm("admin"):
        raise koji.ActionNotAllowed("Cannot cancel task, not owner")


@export()
def cancelTask(task_id, recurse=True):
    row = task_row(task_id)
    _assert_may_cancel(row)
    cancel_task(task_id, recurse)


@export()
def cancelTaskChildren(task_id):
    # kojihub: assertLogin, then the same owner/host/admin rule as cancelTask.
    context.session.assertLogin()
    _assert_may_cancel(task_row(task_id))
    for child in current().db.all("SELECT id FROM tasks WHERE parent = ?", (task_id,)):
        cancel_task(child["id"])


@export()
def evalPolicy(name, data):
    return current().evaluate_policy(name, data)


def user_name(user_id) -> str:
    row = user_row(user_id)
    return row["name"] if row else None
