"""Hub API: builds and their Content Generator reservations (tagging: api_tagging)."""

from __future__ import annotations

import re
import secrets
import time

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export, format_ts
from koji_containerbuild.sandbox.kojihub.api_core import user_row
from koji_containerbuild.sandbox.kojihub.api_tasks import apply_query_opts
from koji_containerbuild.sandbox.kojihub.state import dump_json, load_json

BUILD_STATES = koji.BUILD_STATES
_BUILD_SELECT = (
    "SELECT b.*, p.name AS package_name, u.name AS owner_name, cg.name AS cg_name, "
    "e.ts AS create_event_ts FROM builds b JOIN packages p ON p.id = b.package_id "
    "JOIN users u ON u.id = b.owner_id LEFT JOIN content_generators cg ON cg.id = b.cg_id "
    "JOIN events e ON e.id = b.create_event"
)


def build_info(row: dict) -> dict:
    nvr = "{}-{}-{}".format(row["package_name"], row["version"], row["release"])
    return {
        "id": row["id"],
        "build_id": row["id"],
        "package_id": row["package_id"],
        "package_name": row["package_name"],
        "name": row["package_name"],
        "version": row["version"],
        "release": row["release"],
        "epoch": row["epoch"],
        "nvr": nvr,
        "state": row["state"],
        "task_id": row["task_id"],
        "owner_id": row["owner_id"],
        "owner_name": row["owner_name"],
        "source": row["source"],
        "extra": load_json(row["extra"]),
        "cg_id": row["cg_id"],
        "cg_name": row["cg_name"],
        "creation_event_id": row["create_event"],
        "creation_ts": row["create_ts"],
        "creation_time": format_ts(row["create_ts"]),
        "start_ts": row["start_ts"],
        "start_time": format_ts(row["start_ts"]),
        "completion_ts": row["completion_ts"],
        "completion_time": format_ts(row["completion_ts"]),
        "volume_id": 0,
        "volume_name": "DEFAULT",
        "draft": False,
        "promoter_id": None,
        "promoter_name": None,
        "promotion_time": None,
        "promotion_ts": None,
    }


def build_row(info, strict: bool = False) -> dict | None:
    db = current().db
    if isinstance(info, dict):
        info = info.get("id") or "{name}-{version}-{release}".format(**info)
    if isinstance(info, int) and not isinstance(info, bool):
        row = db.one(_BUILD_SELECT + " WHERE b.id = ?", (info,))
    elif isinstance(info, str):
        try:
            nvr = koji.parse_NVR(info)
        except koji.GenericError:
            if strict:
                raise
            return None
        row = db.one(
            _BUILD_SELECT + " WHERE p.name = ? AND b.version = ? AND b.release = ?",
            (nvr["name"], nvr["version"], nvr["release"]),
        )
    else:
        raise koji.GenericError(f"Invalid type for build reference: {info!r}")
    if row is None and strict:
        raise koji.GenericError(f"No such build: {info}")
    return row


@export()
def getBuild(buildInfo, strict=False):
    row = build_row(buildInfo, strict=strict)
    return build_info(row) if row else None


@export()
def listBuilds(
    packageID=None,
    userID=None,
    taskID=None,
    prefix=None,
    state=None,
    volumeID=None,
    source=None,
    createdBefore=None,
    createdAfter=None,
    completeBefore=None,
    completeAfter=None,
    type=None,
    typeInfo=None,
    queryOpts=None,
    pattern=None,
    cgID=None,
    draft=None,
):
    clauses, params = [], []
    if packageID is not None:
        clauses.append("(p.id = ? OR p.name = ?)")
        params += [packageID, packageID]
    if userID is not None:
        user = user_row(userID)
        if user is None:  # as kojihub: an unknown user owns no builds
            return []
        clauses.append("b.owner_id = ?")
        params.append(user["id"])
    if taskID == -1:  # as kojihub: -1 means 'built by any task'
        clauses.append("b.task_id IS NOT NULL")
    elif taskID is not None:
        clauses.append("b.task_id = ?")
        params.append(taskID)
    if state is not None:
        clauses.append("b.state = ?")
        params.append(state)
    if cgID is not None:
        clauses.append("(cg.id = ? OR cg.name = ?)")
        params += [cgID, cgID]
    if prefix:
        clauses.append("p.name LIKE ?")
        params.append(prefix + "%")
    if type is not None:
        clauses.append("EXISTS (SELECT 1 FROM archives a WHERE a.build_id = b.id AND a.btype = ?)")
        params.append(type)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = [build_info(r) for r in current().db.all(_BUILD_SELECT + where, tuple(params))]
    if pattern:
        import fnmatch

        rows = [r for r in rows if fnmatch.fnmatch(r["nvr"], pattern)]
    return apply_query_opts(rows, queryOpts)


# ---------------------------------------------------------------- CG reservations


def assert_cg(cg) -> dict:
    """The content generator row, if the caller may import for it."""
    db = current().db
    row = db.one("SELECT * FROM content_generators WHERE name = ? OR id = ?", (cg, cg))
    if row is None:
        raise koji.GenericError(f"No such entry in table content_generator: {cg}")
    session = context.session
    if not session.logged_in:
        raise koji.AuthError("Not logged in")
    if not db.one(
        "SELECT 1 FROM cg_users WHERE cg_id = ? AND user_id = ?", (row["id"], session.user_id)
    ):
        raise koji.AuthError("Content generator access required ({})".format(row["name"]))
    return row


#: kojihub's default RegexNameInternal and MaxNameLengthInternal (kojixmlrpc.py),
#: which new_package applies to a build's name.
_NAME_INTERNAL_RE = re.compile(r"^[A-Za-z0-9/_.+-]+$")
_MAX_NAME_LENGTH_INTERNAL = 256


def check_build_nvr(data: dict) -> None:
    """Refuse an NVR as kojihub does, and one whose files would land outside its directory.

    kojihub's new_build checks the name (verify_name_internal) and check_NVR
    refuses '-' in version and release. kojihub stores the files under
    packages/<name>/<version>/<release>/ without checking the parts further;
    this stand-in is stricter: each part must be one directory name ('/',
    '.', '..' and NUL are refused), so no import writes anywhere else.
    """
    for key in ("name", "version", "release"):
        if not data.get(key):
            raise koji.GenericError(f"No {key} value for build")
        if not isinstance(data[key], str):
            raise koji.GenericError(f"Invalid {key} value for build: {data[key]!r}")
    name = data["name"]
    if len(name) > _MAX_NAME_LENGTH_INTERNAL:
        raise koji.GenericError(
            f"Name {name} is too long. Max length is {_MAX_NAME_LENGTH_INTERNAL} characters"
        )
    if not _NAME_INTERNAL_RE.match(name):
        raise koji.GenericError(f"Name {name} does not match RegexNameInternal value")
    koji.check_NVR(data, strict=True)
    for key in ("name", "version", "release"):
        value = data[key]
        if value in (".", "..") or "/" in value or "\0" in value:
            raise koji.GenericError(
                f"Invalid {key} for a build directory (packages/<name>/<version>/<release>): "
                f"{value!r}"
            )


def new_build(data: dict, cnx) -> int:
    """Insert a build, or recycle a FAILED/CANCELED one with the same NVR, as new_build does."""
    check_build_nvr(data)
    hub = current()
    package_id = hub.ensure_package(data["name"])
    old = cnx.execute(
        "SELECT id, state, task_id FROM builds "
        "WHERE package_id = ? AND version = ? AND release = ?",
        (package_id, data["version"], data["release"]),
    ).fetchone()
    event = hub.db.new_event(cnx)
    now = time.time()
    values = (
        package_id,
        data["version"],
        data["release"],
        data.get("epoch"),
        data["state"],
        data.get("task_id"),
        data["owner"],
        data.get("source"),
        dump_json(data["extra"]) if data.get("extra") is not None else None,
        data.get("cg_id"),
        event,
        now,
        data.get("start_time") or now,
        data.get("completion_time"),
    )
    if old is not None:
        state_name = koji.BUILD_STATES[old["state"]]
        if (
            state_name == "BUILDING"
            and data["state"] == old["state"]
            and data.get("task_id") == old["task_id"]
        ):
            return old["id"]  # recycle_build: the controlling task again, the caller decides
        if state_name == "BUILDING":
            raise koji.GenericError("Build already in progress (task {})".format(old["task_id"]))
        if state_name not in ("FAILED", "CANCELED"):
            raise koji.GenericError(
                f"Build already exists (id={old['id']}, state={state_name}): {data!r}"
            )
        for table, what in (("tag_listing", "tag history"), ("archives", "archive data")):
            if cnx.execute(f"SELECT 1 FROM {table} WHERE build_id = ?", (old["id"],)).fetchone():
                raise koji.GenericError(f"Build already exists. Unable to recycle, has {what}")
        cnx.execute("DELETE FROM archives WHERE build_id = ?", (old["id"],))
        cnx.execute(
            "UPDATE builds SET package_id = ?, version = ?, release = ?, epoch = ?, state = ?, "
            "task_id = ?, owner_id = ?, source = ?, extra = ?, cg_id = ?, create_event = ?, "
            "create_ts = ?, start_ts = ?, completion_ts = ?, token = NULL WHERE id = ?",
            (*values, old["id"]),
        )
        return old["id"]
    return cnx.execute(
        "INSERT INTO builds (package_id, version, release, epoch, state, task_id, owner_id, "
        "source, extra, cg_id, create_event, create_ts, start_ts, completion_ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    ).lastrowid


@export()
def CGInitBuild(cg, data):
    cg_row = assert_cg(cg)
    data = dict(data)
    data["owner"] = context.session.user_id
    data["state"] = BUILD_STATES["BUILDING"]
    data["completion_time"] = None
    data["cg_id"] = cg_row["id"]
    data.pop("start_time", None)
    token = secrets.token_hex(16)
    koji.check_NVR(data, strict=True)
    if data.get("task_id") is not None and not current().db.one(
        "SELECT 1 FROM tasks WHERE id = ?", (data["task_id"],)
    ):  # the real build table's task_id references the task table
        raise koji.GenericError(f"No such task: {data['task_id']}")
    with current().db.write() as cnx:
        build_id = new_build(data, cnx)
        reserved = cnx.execute("SELECT token FROM builds WHERE id = ?", (build_id,)).fetchone()
        if reserved["token"]:
            raise koji.GenericError("Build is already reserved")
        cnx.execute("UPDATE builds SET token = ? WHERE id = ?", (token, build_id))
    return {"build_id": build_id, "token": token}


@export()
def CGRefundBuild(cg, build_id, token, state=BUILD_STATES["FAILED"]):
    if state not in (BUILD_STATES["FAILED"], BUILD_STATES["CANCELED"]):
        raise koji.GenericError("Only FAILED/CANCELED build states are allowed")
    cg_row = assert_cg(cg)
    row = build_row(build_id, strict=True)
    if row["state"] != BUILD_STATES["BUILDING"]:
        raise koji.GenericError(f"Build ID {build_id} is not in BUILDING state")
    if row["token"] is None or row["token"] != token:
        raise koji.GenericError(f"Token doesn't match build ID {build_id}")
    if row["cg_id"] != cg_row["id"]:
        raise koji.GenericError(f"Build ID {build_id} is not reserved by this CG")
    with current().db.write() as cnx:
        cnx.execute(
            "UPDATE builds SET state = ?, completion_ts = ?, token = NULL WHERE id = ?",
            (state, time.time(), row["id"]),
        )
        current().db.new_event(cnx)
