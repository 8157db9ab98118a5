"""Hub API: tagging builds (by admins, and by builder tasks) and reading tags.

Checked in kojihub's order: the host owns the task, the ``tag`` policy as
the task's owner, the destination's package list, the tag's lock and
permission, then the build must be COMPLETE and not tagged there yet.
"""

from __future__ import annotations

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub import policy
from koji_containerbuild.sandbox.kojihub.api_base import current, export
from koji_containerbuild.sandbox.kojihub.api_builds import build_info, build_row
from koji_containerbuild.sandbox.kojihub.api_core import getUser
from koji_containerbuild.sandbox.kojihub.api_host import this_host
from koji_containerbuild.sandbox.kojihub.api_maketask import make_task
from koji_containerbuild.sandbox.kojihub.api_tags import tag_info, tag_row
from koji_containerbuild.sandbox.kojihub.api_tasks import STATES, task_row

_ARCHIVE_BTYPES = ("image", "maven", "win")


def _user_perms(user_id: int) -> list[str]:
    rows = current().db.all(
        "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id "
        "WHERE up.user_id = ?",
        (user_id,),
    )
    return [r["name"] for r in rows]


def assert_tag_access(tag: dict, user_id: int, force: bool = False) -> None:
    """A locked tag, or one needing a permission the user lacks, refuses (admins may force)."""
    perms = _user_perms(user_id)
    reason = None
    if tag["locked"]:
        reason = "tag is locked"
    elif tag["perm_id"] is not None:
        needed = current().db.one("SELECT name FROM permissions WHERE id = ?", (tag["perm_id"],))
        if needed["name"] not in perms:
            reason = "tag requires {} permission".format(needed["name"])
    if reason and not (force and "admin" in perms):
        raise koji.ActionNotAllowed(reason)


def _package_entry(tag_id: int, package_id: int) -> dict | None:
    return current().db.one(
        "SELECT blocked FROM tag_packages WHERE tag_id = ? AND package_id = ?",
        (tag_id, package_id),
    )


def direct_tag_build(tag: dict, build: dict, user_id: int, force: bool = False) -> None:
    """Insert the tag_listing row: only COMPLETE builds, never twice.

    As kojihub's _direct_tag_build: preTag callbacks first, postTag after the
    insert, in the same transaction (a failing callback undoes the tag), with
    the tag, build and user as getTag, getBuild and getUser give them.
    """
    hub = current()
    with hub.db.write() as cnx:
        tag_data, build_data = tag_info(tag), build_info(build)
        user = getUser(user_id, strict=True)
        hub.run_callbacks("preTag", tag=tag_data, build=build_data, user=user, force=force)
        nvr = build_data["nvr"]
        if build["state"] != koji.BUILD_STATES["COMPLETE"]:
            state = koji.BUILD_STATES[build["state"]]
            raise koji.TagError(f"build {nvr} not complete: state {state}")
        if cnx.execute(
            "SELECT 1 FROM tag_listing WHERE tag_id = ? AND build_id = ?",
            (tag["id"], build["id"]),
        ).fetchone():
            raise koji.TagError("build {} already tagged ({})".format(nvr, tag["name"]))
        event = hub.db.new_event(cnx)
        cnx.execute(
            "INSERT INTO tag_listing (tag_id, build_id, create_event, owner_id) "
            "VALUES (?, ?, ?, ?)",
            (tag["id"], build["id"], event, user_id),
        )
        hub.run_callbacks("postTag", tag=tag_data, build=build_data, user=user, force=force)


@export()
def tagBuildBypass(tag, build, force=False, notify=False):
    context.session.assertPerm("tag")
    tag_data = tag_row(tag, strict=True)
    build_data = build_row(build, strict=True)
    data = {"tag": tag_data["id"], "build": build_data["id"], "fromtag": None}
    policy.assert_policy("tag", {**data, "operation": "tag"})
    assert_tag_access(tag_data, context.session.user_id, force=force)
    direct_tag_build(tag_data, build_data, context.session.user_id, force=force)


@export()
def tagBuild(tag, build, force=False, fromtag=None):
    """Check what kojihub checks up front, then create the tagBuild task kojid runs."""
    context.session.assertLogin()
    build_data = build_row(build, strict=True)
    tag_data = tag_row(tag, strict=True)
    if fromtag is not None:
        raise koji.GenericError("the sandbox hub does not move builds between tags (fromtag)")
    nvr = build_info(build_data)["nvr"]
    if build_data["state"] != koji.BUILD_STATES["COMPLETE"]:
        state = koji.BUILD_STATES[build_data["state"]]
        raise koji.TagError(f"build {nvr} not complete: state {state}")
    assert_tag_access(tag_data, context.session.user_id, force=force)
    listed = _package_entry(tag_data["id"], build_data["package_id"])
    name, tag_name = build_data["package_name"], tag_data["name"]
    if listed is None:
        raise koji.TagError(f"Package {name} not in list for {tag_name}")
    if listed["blocked"]:
        raise koji.TagError(f"Package {name} blocked in {tag_name}")
    data = {"tag": tag_data["id"], "build": build_data["id"], "fromtag": None, "operation": "tag"}
    policy.assert_policy("tag", data)
    return make_task("tagBuild", [tag_data["id"], build_data["id"], force, None], priority=10)


@export()
def untagBuild(tag, build, strict=True, force=False):
    """kojihub's untagBuild: the tag policy (operation untag), access, pre/postUntag callbacks."""
    context.session.assertLogin()
    tag_data = tag_row(tag, strict=True)
    build_data = build_row(build, strict=True)
    data = {"tag": None, "build": build_data["id"], "fromtag": tag_data["id"],
            "operation": "untag"}  # fmt: skip
    policy.assert_policy("tag", data)
    assert_tag_access(tag_data, context.session.user_id, force=force)
    hub = current()
    with hub.db.write() as cnx:
        info, build_dict = tag_info(tag_data), build_info(build_data)
        user = getUser(context.session.user_id, strict=True)
        kws = {"tag": info, "build": build_dict, "user": user, "force": force, "strict": strict}
        hub.run_callbacks("preUntag", **kws)
        # the sandbox keeps no tag history: the listing row goes (kojihub revokes it)
        count = cnx.execute(
            "DELETE FROM tag_listing WHERE tag_id = ? AND build_id = ?",
            (tag_data["id"], build_data["id"]),
        ).rowcount
        if count == 0 and strict:
            raise koji.TagError("build {} not in tag {}".format(build_dict["nvr"], info["name"]))
        hub.db.new_event(cnx)
        hub.run_callbacks("postUntag", **kws)


@export("host.tagBuild")
def host_tag_build(task_id, tag, build, force=False, fromtag=None):
    """Tag a build as the owner of the task the calling host runs."""
    host = this_host()
    task = task_row(task_id)
    if task["state"] != STATES["OPEN"] or task["host_id"] != host["id"]:
        raise koji.ActionNotAllowed("host {} does not own task {}".format(host["id"], task_id))
    if fromtag is not None:
        raise koji.GenericError("the sandbox hub does not move builds between tags (fromtag)")
    build_data = build_row(build, strict=True)
    tag_data = tag_row(tag, strict=True)
    owner_id = task["owner"]
    policy.assert_policy(
        "tag",
        {"tag": tag, "build": build_data["id"], "fromtag": None, "user_id": owner_id,
         "operation": "tag"},
    )  # fmt: skip
    listed = _package_entry(tag_data["id"], build_data["package_id"])
    name = build_data["package_name"]
    if listed is None:
        raise koji.TagError(f"Package {name} not in list for {tag}")
    if listed["blocked"]:
        raise koji.TagError(f"Package {name} blocked in {tag}")
    assert_tag_access(tag_data, owner_id, force=force)
    direct_tag_build(tag_data, build_data, owner_id, force=force)


@export("host.tagNotification")
def host_tag_notification(
    is_successful, tag_id, from_id, build_id, user_id, ignore_success=False, failure_msg=""
):
    """Nothing to send: the sandbox runs with DisableNotifications, as the hub returns then."""
    this_host()
    if current().opts.get("DisableNotifications"):
        return None
    raise koji.GenericError("the sandbox hub sends no notifications")


def read_tagged(
    tag_id: int, latest=False, package=None, owner=None, type=None, extra=False
) -> list[dict]:
    """COMPLETE builds in the tag whose package is listed and not blocked, newest tag first."""
    if not isinstance(latest, int) or isinstance(latest, bool):
        latest = bool(latest)
    if type is not None and type not in _ARCHIVE_BTYPES:
        raise koji.GenericError(f"unsupported build type: {type}")
    listing = current().db.all(
        "SELECT tl.build_id, tl.create_event FROM tag_listing tl "
        "JOIN builds b ON b.id = tl.build_id "
        "JOIN tag_packages tp ON tp.tag_id = tl.tag_id AND tp.package_id = b.package_id "
        "WHERE tl.tag_id = ? AND b.state = ? AND tp.blocked = 0 "
        "ORDER BY tl.create_event DESC, b.id DESC",
        (tag_id, koji.BUILD_STATES["COMPLETE"]),
    )
    tag = tag_info(tag_row(tag_id, strict=True))
    builds, seen = [], {}
    for entry in listing:
        info = build_info(build_row(entry["build_id"], strict=True))
        if package is not None and info["name"] != package:
            continue
        if owner is not None and info["owner_name"] != owner:
            continue
        if type is not None and not current().db.one(
            "SELECT 1 FROM archives WHERE build_id = ? AND btype = ?", (info["id"], type)
        ):
            continue
        if latest:
            count = seen.get(info["package_id"], 0)
            if (latest is True and count) or count >= latest:
                continue
            seen[info["package_id"]] = count + 1
        info.update(tag_id=tag["id"], tag_name=tag["name"], create_event=entry["create_event"])
        if not extra:
            info.pop("extra")
        builds.append(info)
    return builds


@export()
def listTagged(
    tag,
    event=None,
    inherit=False,
    prefix=None,
    latest=False,
    package=None,
    owner=None,
    type=None,
    strict=True,
    extra=False,
    draft=None,
):
    row = tag_row(tag, strict=strict)
    if row is None:
        return []
    builds = read_tagged(row["id"], latest, package, owner, type, extra)
    if prefix:
        builds = [b for b in builds if b["package_name"].lower().startswith(prefix.lower())]
    return builds


@export()
def getLatestBuilds(tag, event=None, package=None, type=None, draft=None):
    return read_tagged(tag_row(tag, strict=True)["id"], True, package, type=type)
