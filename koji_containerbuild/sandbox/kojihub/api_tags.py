"""Hub API: tags, build targets and package lists."""

from __future__ import annotations

import fnmatch

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export
from koji_containerbuild.sandbox.kojihub.api_core import user_row
from koji_containerbuild.sandbox.kojihub.state import load_json

# ---------------------------------------------------------------- tags and targets


def tag_row(info, strict: bool = False) -> dict | None:
    db = current().db
    if isinstance(info, dict):
        info = info.get("id", info.get("name"))
    if isinstance(info, int) and not isinstance(info, bool):
        row = db.one("SELECT * FROM tags WHERE id = ?", (info,))
    elif isinstance(info, str):
        row = db.one("SELECT * FROM tags WHERE name = ?", (info,))
    else:
        raise koji.GenericError(f"Invalid tagInfo: {info!r}")
    if row is None and strict:
        raise koji.GenericError(f"No such tagInfo: {info!r}")
    return row


def tag_info(row: dict) -> dict:
    perm = None
    if row["perm_id"] is not None:
        perm = current().db.one("SELECT name FROM permissions WHERE id = ?", (row["perm_id"],))
    return {
        "id": row["id"],
        "name": row["name"],
        "arches": row["arches"],
        "locked": bool(row["locked"]),
        "perm_id": row["perm_id"],
        "perm": perm["name"] if perm else None,
        "maven_support": False,
        "maven_include_all": False,
        "extra": load_json(row["extra"]) or {},
    }


@export()
def getTag(tagInfo, strict=False, event=None, blocked=False):
    row = tag_row(tagInfo, strict=strict)
    return tag_info(row) if row else None


@export()
def getBuildConfig(tag, event=None):
    info = getTag(tag, strict=True, event=event)
    info["config_inheritance"] = {"extra": {}, "arches": None}
    return info


@export()
def listTags(build=None, package=None, perms=True, queryOpts=None, pattern=None):
    """All tags, or those a build is tagged in, or whose package list has the package."""
    from koji_containerbuild.sandbox.kojihub.api_builds import build_row
    from koji_containerbuild.sandbox.kojihub.api_tasks import apply_query_opts

    if build is not None and package is not None:
        raise koji.GenericError("only one of build and package may be specified")
    db = current().db
    listing: dict[int, dict] = {}
    if build is not None:
        row = build_row(build)
        if row is None:
            raise koji.GenericError(f"No such build: {build}")
        for entry in db.all("SELECT tag_id FROM tag_listing WHERE build_id = ?", (row["id"],)):
            listing[entry["tag_id"]] = {}
    elif package is not None:
        row = package_row(package)
        if row is None:
            raise koji.GenericError(f"No such package: {package}")
        for entry in db.all(
            "SELECT tp.tag_id, tp.owner_id, u.name AS owner_name, tp.blocked, tp.extra_arches "
            "FROM tag_packages tp JOIN users u ON u.id = tp.owner_id WHERE tp.package_id = ?",
            (row["id"],),
        ):
            entry["blocked"] = bool(entry["blocked"])
            listing[entry.pop("tag_id")] = entry
    tags = []
    for row in db.all("SELECT * FROM tags ORDER BY id"):
        if (build is not None or package is not None) and row["id"] not in listing:
            continue
        if pattern is not None and not fnmatch.fnmatchcase(row["name"].lower(), pattern.lower()):
            continue
        info = tag_info(row)
        info.pop("extra")
        if not perms:
            info.pop("perm_id")
            info.pop("perm")
        info.update(listing.get(row["id"], {}))
        tags.append(info)
    return apply_query_opts(tags, queryOpts)


@export()
def createTag(
    name,
    parent=None,
    arches=None,
    perm=None,
    locked=False,
    maven_support=False,
    maven_include_all=False,
    extra=None,
):
    context.session.assertPerm("tag")
    return current().add_tag(name, arches=arches, locked=locked, perm=perm, extra=extra)


def target_info(row: dict) -> dict:
    db = current().db
    build_tag = db.one("SELECT name FROM tags WHERE id = ?", (row["build_tag"],))
    dest_tag = db.one("SELECT name FROM tags WHERE id = ?", (row["dest_tag"],))
    return {
        "id": row["id"],
        "name": row["name"],
        "build_tag": row["build_tag"],
        "build_tag_name": build_tag["name"],
        "dest_tag": row["dest_tag"],
        "dest_tag_name": dest_tag["name"],
    }


@export()
def getBuildTarget(info, event=None, strict=False):
    db = current().db
    if isinstance(info, int) and not isinstance(info, bool):
        row = db.one("SELECT * FROM targets WHERE id = ?", (info,))
    elif isinstance(info, str):
        row = db.one("SELECT * FROM targets WHERE name = ?", (info,))
    else:
        raise koji.GenericError(f"Invalid type for lookup: {type(info)}")
    if row is None:
        if strict:
            raise koji.GenericError(f"No such build target: {info}")
        return None
    return target_info(row)


@export()
def getBuildTargets(info=None, event=None, buildTagID=None, destTagID=None, queryOpts=None):
    clauses, params = [], []
    if info is not None:
        clauses.append("name = ?" if isinstance(info, str) else "id = ?")
        params.append(info)
    for column, value in (("build_tag", buildTagID), ("dest_tag", destTagID)):
        if value is not None:
            if isinstance(value, str):
                value = tag_row(value, strict=True)["id"]
            clauses.append(f"{column} = ?")
            params.append(value)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = current().db.all("SELECT * FROM targets" + where + " ORDER BY name", tuple(params))
    return [target_info(r) for r in rows]


@export()
def createBuildTarget(name, build_tag, dest_tag):
    context.session.assertPerm("target")
    current().add_target(name, build_tag, dest_tag)


# ---------------------------------------------------------------- packages


def package_row(info, strict: bool = False) -> dict | None:
    db = current().db
    if isinstance(info, int) and not isinstance(info, bool):
        row = db.one("SELECT * FROM packages WHERE id = ?", (info,))
    elif isinstance(info, str):
        row = db.one("SELECT * FROM packages WHERE name = ?", (info,))
    else:
        raise koji.GenericError(f"Invalid type for lookup: {type(info)}")
    if row is None and strict:
        raise koji.GenericError(f"No such entry in table package: {info}")  # lookup_name
    return row


@export()
def getPackage(info, strict=False, create=False):
    row = package_row(info, strict=strict and not create)
    if row is None and create and isinstance(info, str):
        current().ensure_package(info)
        row = package_row(info, strict=True)
    return {"id": row["id"], "name": row["name"]} if row else None


_PACKAGE_LISTING = (
    "SELECT tp.package_id, p.name AS package_name, tp.tag_id, t.name AS tag_name, "
    "tp.owner_id, u.name AS owner_name, tp.extra_arches, tp.blocked "
    "FROM tag_packages tp JOIN packages p ON p.id = tp.package_id "
    "JOIN tags t ON t.id = tp.tag_id JOIN users u ON u.id = tp.owner_id"
)


def _listing(rows: list[dict], with_owners: bool = True) -> list[dict]:
    for row in rows:
        row["blocked"] = bool(row["blocked"])
        if not with_owners:
            row.pop("owner_id")
            row.pop("owner_name")
    return rows


@export()
def listPackages(
    tagID=None,
    userID=None,
    pkgID=None,
    prefix=None,
    inherited=False,
    with_dups=False,
    event=None,
    queryOpts=None,
    with_owners=True,
    with_blocked=True,
):
    clauses, params = [], []
    if tagID is not None:
        clauses.append("tp.tag_id = ?")
        params.append(tag_row(tagID, strict=True)["id"])
    if userID is not None:
        clauses.append("tp.owner_id = ?")
        params.append(user_row(userID, strict=True)["id"])
    if pkgID is not None:
        clauses.append("tp.package_id = ?")
        params.append(package_row(pkgID, strict=True)["id"])
    if prefix:
        clauses.append("p.name LIKE ?")
        params.append(prefix + "%")
    if not with_blocked:
        clauses.append("tp.blocked = 0")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = current().db.all(_PACKAGE_LISTING + where + " ORDER BY p.name", tuple(params))
    return _listing(rows, with_owners)


@export()
def getPackageConfig(tag, pkg, event=None):
    """As RootExports.getPackageConfig: None when the tag or the package is unknown."""
    tag = tag_row(tag)
    package = package_row(pkg)
    if tag is None or package is None:
        return None
    rows = current().db.all(
        _PACKAGE_LISTING + " WHERE tp.tag_id = ? AND tp.package_id = ?", (tag["id"], package["id"])
    )
    return _listing(rows)[0] if rows else None


@export()
def packageListAdd(
    taginfo, pkginfo, owner=None, block=None, extra_arches=None, force=False, update=False
):
    context.session.assertPerm("admin")
    if owner is None:
        raise koji.GenericError("owner not specified")
    current().add_package(taginfo, pkginfo, owner, blocked=bool(block))
