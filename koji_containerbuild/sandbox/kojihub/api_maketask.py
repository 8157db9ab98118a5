"""Hub API: task creation, as kojihub.make_task does it (its checks and the channel policy).

Apart from :mod:`koji_containerbuild.sandbox.kojihub.api_tasks` (queries and
cancelling) because this is where the sandbox must be as strict as kojihub
before a task exists: the option types, the owner, the parent's state, the
channel policy and PostgreSQL's integer range for the priority. The hub
plugin, the host API (subtasks) and tagging all create tasks through here.
"""

from __future__ import annotations

import time

import koji
import koji.tasks
import koji.xmlrpcplus
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export
from koji_containerbuild.sandbox.kojihub.api_core import channel_row, user_row
from koji_containerbuild.sandbox.kojihub.api_tasks import STATES

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def make_task(method, arglist, **opts):
    """Create a task the way kojihub.make_task does (channel policy included)."""
    hub = current()
    session = context.session
    if not isinstance(method, str):
        raise koji.ParameterError(f"Invalid type for method: {method!r}")
    _check_task_opts(opts)
    parent = None
    if opts.get("parent"):
        parent = hub.db.one("SELECT * FROM tasks WHERE id = ?", (opts["parent"],))
        if parent is None:
            raise koji.GenericError("Invalid parent task: {parent}".format(**opts))
        if parent["state"] != STATES["OPEN"]:
            raise koji.GenericError("Parent task (id {parent}) is not open".format(**opts))
        opts.setdefault("priority", parent["priority"] - 1)
        opts.setdefault("owner", parent["owner"])
        opts.setdefault("arch", parent["arch"])
        opts.setdefault("label", None)
    else:
        opts.setdefault("priority", koji.PRIO_DEFAULT)
        opts.setdefault("arch", "noarch")
        if opts.get("owner") is not None:
            # kojihub honours an owner given by the caller (a user id or name)
            opts["owner"] = _owner_id(opts["owner"])
        elif not session.logged_in:
            raise koji.GenericError("task must have an owner")
        else:
            opts["owner"] = session.user_id
        opts["label"] = None
        opts["parent"] = None
    policy_data = {key: opts[key] for key in ("arch", "parent", "label", "owner")}
    policy_data["method"] = method
    policy_data["user_id"] = opts["owner"]
    req_channel_id = None
    if "channel" in opts:
        policy_data["req_channel"] = opts["channel"]
        channel = channel_row(opts["channel"])
        if channel is None:
            raise koji.GenericError("No such channel: {}".format(opts["channel"]))
        if not channel["enabled"]:
            raise koji.GenericError("Channel {} is disabled.".format(opts["channel"]))
        req_channel_id = channel["id"]
    policy_data.update(task_policy_data(method, arglist))
    result = hub.evaluate_policy("channel", policy_data)
    parts = (result or "use default").split()
    if parts[0] == "use" and len(parts) > 1:
        channel_id = channel_row(parts[1], strict=True)["id"]
    elif parts[0] == "req" and req_channel_id is not None:
        channel_id = req_channel_id
    elif parts[0] == "parent" and parent is not None:
        channel_id = parent["channel_id"]
    else:
        raise koji.GenericError("invalid channel policy")
    try:
        opts["priority"] = int(opts["priority"])  # kojihub: convert_value(cast=int)
    except (TypeError, ValueError):
        raise koji.ParameterError(
            f"Invalid type for value '{opts['priority']}': {type(opts['priority'])}, "
            "expected type <class 'int'>"
        ) from None
    if not INT32_MIN <= opts["priority"] <= INT32_MAX:
        # kojihub's task.priority is a PostgreSQL INTEGER: the insert fails there.
        raise koji.GenericError(f"integer out of range: task priority {opts['priority']}")
    request = koji.xmlrpcplus.dumps(tuple(arglist), methodname=method)
    state = STATES["ASSIGNED"] if opts.get("assign") else STATES["FREE"]
    with hub.db.write() as cnx:
        task_id = cnx.execute(
            "INSERT INTO tasks (state, method, request, owner, channel_id, host_id, parent, "
            "label, arch, priority, create_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state,
                method,
                request,
                opts["owner"],
                channel_id,
                opts.get("assign") or None,
                opts["parent"],
                opts["label"],
                opts["arch"],
                opts["priority"],
                time.time(),
            ),
        ).lastrowid
        hub.db.new_event(cnx)
    hub.notify_task_change()
    return task_id


def _owner_id(owner) -> int:
    """A user id as kojihub's get_user(owner, strict=True) finds it."""
    column = "id" if isinstance(owner, int) else "name"
    row = current().db.one(f"SELECT id FROM users WHERE {column} = ?", (owner,))
    if row is None:
        raise koji.GenericError(f"No such user: {owner}")
    return row["id"]


def _check_task_opts(opts: dict) -> None:
    """kojihub.make_task's checks of the task options, before anything is looked up."""
    if "parent" in opts:
        try:
            opts["parent"] = int(opts["parent"])
        except (TypeError, ValueError):
            raise koji.ParameterError(
                f"Invalid type for value '{opts['parent']}': {type(opts['parent'])}, "
                "expected type <class 'int'>"
            ) from None
    if "label" in opts and opts["label"] is not None and not isinstance(opts["label"], str):
        raise koji.ParameterError(
            f"Invalid type for value '{opts['label']}': {type(opts['label'])}, "
            "expected type <class 'str'>"
        )
    if "owner" in opts and not isinstance(opts["owner"], int):
        row = user_row(opts["owner"])
        if row is None:
            raise koji.GenericError(f"No such user: {opts['owner']!r}")
        opts["owner"] = row["id"]
    if "arch" in opts:
        # one arch or a list of them, each [a-zA-Z0-9_-]: a task arch never names a path
        opts["arch"] = koji.parse_arches(opts["arch"], strict=True, allow_none=True)


def task_policy_data(method, arglist) -> dict:
    """Policy data from the task's parameters, as the hub derives it."""
    try:
        params = koji.tasks.parse_task_params(method, arglist)
    except Exception:
        return {}
    data = {}
    for key in ("source", "src", "url"):
        if params.get(key):
            data["source"] = params[key]
            break
    if params.get("target") is not None:
        data["target"] = params["target"]
    for key in ("tag", "tag_id", "tag_info"):
        if key in params:
            # kojihub: the tag's name, left out when the tag cannot be found
            tag = params[key]
            tag = tag.get("id", tag.get("name")) if isinstance(tag, dict) else tag
            column = "name" if isinstance(tag, str) else "id"
            row = current().db.one(f"SELECT name FROM tags WHERE {column} = ?", (tag,))
            if row is not None:
                data["tag"] = row["name"]
            break
    opts = params.get("opts") or {}
    if isinstance(opts, dict) and "scratch" in opts:
        data["scratch"] = opts["scratch"]
    return data


@export()
def makeTask(*args, **opts):
    """Admin-only direct task creation, as the real makeTask."""
    context.session.assertPerm("admin")
    known = ("channel", "priority", "arch", "parent", "label", "owner", "assign")
    return make_task(*args, **{k: v for k, v in opts.items() if k in known})
