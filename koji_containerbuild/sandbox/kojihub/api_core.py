"""Hub API: sessions, users, permissions, channels and hosts."""

from __future__ import annotations

import secrets
import time

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export, format_ts

# ---------------------------------------------------------------- sessions


@export()
def login(username, password, opts=None, renew=False, exclusive=False):
    hub = current()
    user = hub.db.one("SELECT * FROM users WHERE name = ?", (username,))
    if not user or user["password"] is None or user["password"] != password:
        raise koji.AuthError("invalid username or password")
    if user["status"] != koji.USER_STATUS["NORMAL"]:
        raise koji.AuthError(f"logins by {username} are not allowed")
    return create_session(user["id"])


def create_session(user_id: int, master=None) -> dict:
    hub = current()
    key = f"{user_id}-{secrets.token_hex(10)}"
    with hub.db.write() as cnx:
        session_id = cnx.execute(
            "INSERT INTO sessions (key, user_id, start_ts, master) VALUES (?, ?, ?, ?)",
            (key, user_id, time.time(), master),
        ).lastrowid
    return {"session-id": session_id, "session-key": key, "header-auth": True}


@export()
def subsession():
    session = context.session
    if not session.logged_in:
        raise koji.AuthError("Not logged in")
    return create_session(session.user_id, master=session.master or session.id)


@export()
def logout(session_id=None):
    session = context.session
    if not session.logged_in:
        return None
    target = session_id or session.id
    with current().db.write() as cnx:
        cnx.execute(
            "DELETE FROM sessions WHERE user_id = ? AND (id = ? OR master = ?)",
            (session.user_id, target, target),
        )
    return None


@export()
def logoutChild(session_id):
    return logout(session_id)


@export()
def exclusiveSession(force=False):
    return None


@export()
def sharedSession():
    return None


@export()
def getSessionInfo(details=False, user_id=None):
    session = context.session
    if not session.logged_in:
        return None
    row = current().db.one("SELECT * FROM sessions WHERE id = ?", (session.id,))
    start_ts = row["start_ts"] if row else time.time()
    return {
        "session-id": session.id,
        "hostip": session.hostip,
        "authtype": session.authtype,
        "callnum": session.callnum,
        "start_time": format_ts(start_ts),
        "start_ts": start_ts,
        "exclusive": None,
        "master": session.master,
        "renew_time": None,
        "renew_ts": None,
        "user_id": session.user_id,
        "expired": False,
    }


@export()
def getLoggedInUser():
    if not context.session.logged_in:
        return None
    return getUser(context.session.user_id)


@export()
def getAPIVersion():
    return koji.API_VERSION


@export()
def getKojiVersion():
    return koji.__version__


@export()
def hello(*args):
    return "Hello World"


@export()
def echo(*args):
    return list(args)


@export()
def showSession():
    return f"{context.session.user_data}"


@export()
def showOpts(as_string=True):
    return str(context.opts) if as_string else dict(context.opts)


@export()
def getLastEvent(before=None, strict=True):
    db = current().db
    if before is None:
        row = db.one("SELECT id, ts FROM events ORDER BY id DESC LIMIT 1")
    else:
        row = db.one("SELECT id, ts FROM events WHERE ts < ? ORDER BY id DESC LIMIT 1", (before,))
    if row is None and strict:
        raise koji.GenericError(f"There are no events before {before!r}")
    return row


@export("system.listMethods")
def list_methods():
    return sorted(current().exports)


@export("system.methodSignature")
def method_signature(method):
    return "signatures not supported"


@export("system.methodHelp")
def method_help(method):
    func = current().exports.get(method)
    if func is None:
        raise koji.GenericError(f"Invalid method: {method}")
    return func.__doc__ or ""


# ---------------------------------------------------------------- users and permissions


def user_row(info, strict: bool = False) -> dict | None:
    db = current().db
    if isinstance(info, dict):
        info = info.get("id", info.get("name"))
    if isinstance(info, int) and not isinstance(info, bool):
        row = db.one("SELECT * FROM users WHERE id = ?", (info,))
    elif isinstance(info, str):
        row = db.one("SELECT * FROM users WHERE name = ?", (info,))
    else:
        raise koji.GenericError(f"Invalid type for userInfo: {type(info)}")
    if row is None and strict:
        raise koji.GenericError(f"No such user: {info!r}")
    return row


@export()
def getUser(userInfo=None, strict=False, krb_princs=True, groups=False):
    if userInfo is None:
        userInfo = context.session.user_id
        if userInfo is None:
            return None
    row = user_row(userInfo, strict=strict)
    if row is None:
        return None
    data = {k: row[k] for k in ("id", "name", "status", "usertype")}
    if krb_princs:
        data["krb_principals"] = []
    if groups:
        data["groups"] = []
    return data


def user_perms(user_id: int) -> list[str]:
    rows = current().db.all(
        "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id "
        "WHERE up.user_id = ? ORDER BY p.name",
        (user_id,),
    )
    return [r["name"] for r in rows]


@export()
def getAllPerms():
    return current().db.all("SELECT id, name, description FROM permissions ORDER BY id")


@export()
def getUserPerms(userID=None, with_groups=True):
    if userID is None:
        userID = context.session.user_id
    row = user_row(userID, strict=True)
    return user_perms(row["id"])


@export()
def getPerms():
    return context.session.getPerms()


@export()
def hasPerm(perm, strict=False):
    if strict and current().db.one("SELECT id FROM permissions WHERE name = ?", (perm,)) is None:
        raise koji.GenericError(f"No such permission {perm} defined")
    return context.session.hasPerm(perm)


def grant_permission(userinfo, permission, create=False, description=None) -> None:
    db = current().db
    user = user_row(userinfo, strict=True)
    with db.write() as cnx:
        perm = cnx.execute("SELECT id FROM permissions WHERE name = ?", (permission,)).fetchone()
        if perm is None:
            if not create:
                raise koji.GenericError(f"No such permission: {permission}")
            perm_id = cnx.execute(
                "INSERT INTO permissions (name, description) VALUES (?, ?)",
                (permission, description),
            ).lastrowid
        else:
            perm_id = perm["id"]
        if cnx.execute(
            "SELECT 1 FROM user_perms WHERE user_id = ? AND perm_id = ?", (user["id"], perm_id)
        ).fetchone():
            raise koji.GenericError(
                "user {} already has permission: {}".format(user["name"], permission)
            )
        cnx.execute("INSERT INTO user_perms VALUES (?, ?)", (user["id"], perm_id))
        current().db.new_event(cnx)


@export()
def grantPermission(userinfo, permission, create=False, description=None):
    context.session.assertPerm("admin")
    grant_permission(userinfo, permission, create, description)


# ---------------------------------------------------------------- channels and hosts


def channel_row(info, strict: bool = False) -> dict | None:
    db = current().db
    if isinstance(info, int) and not isinstance(info, bool):
        row = db.one("SELECT * FROM channels WHERE id = ?", (info,))
    elif isinstance(info, str):
        row = db.one("SELECT * FROM channels WHERE name = ?", (info,))
    else:
        raise koji.GenericError(f"Invalid type for lookup: {type(info)}")
    if row is None and strict:
        raise koji.GenericError(f"No such channel: {info}")
    return row


def _channel_info(row: dict) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "comment": row["comment"],
    }


@export()
def getChannel(channelInfo, strict=False):
    row = channel_row(channelInfo, strict=strict)
    return _channel_info(row) if row else None


@export()
def listChannels(hostID=None, event=None, enabled=None):
    if hostID is not None:
        rows = current().db.all(
            "SELECT c.* FROM channels c JOIN host_channels hc ON hc.channel_id = c.id "
            "JOIN hosts h ON h.id = hc.host_id WHERE h.id = ? OR h.name = ? ORDER BY c.id",
            (hostID, hostID),
        )
    else:
        rows = current().db.all("SELECT * FROM channels ORDER BY id")
    if enabled is not None:
        rows = [r for r in rows if bool(r["enabled"]) == bool(enabled)]
    return [_channel_info(r) for r in rows]


def host_info(row: dict) -> dict:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "name": row["name"],
        "arches": row["arches"],
        "task_load": row["task_load"],
        "capacity": row["capacity"],
        "ready": bool(row["ready"]),
        "enabled": bool(row["enabled"]),
        "comment": None,
        "description": None,
        "update_ts": None,
    }


@export()
def getHost(hostInfo, strict=False, event=None):
    row = current().db.one("SELECT * FROM hosts WHERE id = ? OR name = ?", (hostInfo, hostInfo))
    if row is None and strict:
        raise koji.GenericError(f"Invalid hostInfo: {hostInfo}")
    return host_info(row) if row else None


@export()
def listHosts(arches=None, channelID=None, ready=None, enabled=None, userID=None, queryOpts=None):
    db = current().db
    rows = [host_info(r) for r in db.all("SELECT * FROM hosts ORDER BY id")]
    if arches is not None:
        if not arches:
            raise koji.GenericError("arches option cannot be empty")
        wanted = set(arches if isinstance(arches, (list, tuple)) else [arches])
        rows = [r for r in rows if wanted & set(r["arches"].split())]
    if channelID is not None:
        channel = channel_row(channelID, strict=True)
        members = db.all(
            "SELECT host_id FROM host_channels WHERE channel_id = ?", (channel["id"],)
        )
        rows = [r for r in rows if r["id"] in {m["host_id"] for m in members}]
    if ready is not None:
        rows = [r for r in rows if r["ready"] == bool(ready)]
    if enabled is not None:
        rows = [r for r in rows if r["enabled"] == bool(enabled)]
    return rows


@export()
def addHostToChannel(hostname, channel_name, create=False):
    context.session.assertPerm("host")
    current().add_host_to_channel(hostname, channel_name, create=create)


@export()
def grantCGAccess(user, cg, create=False):
    context.session.assertPerm("admin")
    current().grant_cg_access(user, cg, create=create)


@export()
def getUserPermsInheritance(userID):
    row = user_row(userID, strict=True)
    return {name: [None] for name in user_perms(row["id"])}
