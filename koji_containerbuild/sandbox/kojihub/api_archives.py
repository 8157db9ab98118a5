"""Hub API: archives of builds, the build types, RPM listings and buildroots."""

from __future__ import annotations

import koji

from koji_containerbuild.sandbox.kojihub.api_base import current, export
from koji_containerbuild.sandbox.kojihub.api_tasks import apply_query_opts
from koji_containerbuild.sandbox.kojihub.state import load_json

ARCHIVE_TYPES = {
    # name: (id, description, extensions) -- koji's default archivetypes subset
    "tar": (4, "Tar files", "tar tar.gz tar.bz2 tar.xz tgz"),
    "zip": (1, "Zip file", "zip"),
    "json": (49, "JSON data", "json"),
    "xml": (5, "XML files", "xml"),
    "txt": (39, "Text file", "txt"),
    "yaml": (50, "YAML Ain't Markup Language", "yaml yml"),
    "raw-xz": (33, "xz compressed raw disk image", "raw.xz"),
    "qcow2": (18, "QCOW2 image", "qcow2"),
}


def archive_type_for(filename: str) -> str | None:
    """The archive type whose longest matching extension fits, as the hub guesses it."""
    best, best_len = None, 0
    for name, (_id, _desc, extensions) in ARCHIVE_TYPES.items():
        for ext in extensions.split():
            if filename.endswith("." + ext) and len(ext) > best_len:
                best, best_len = name, len(ext)
    return best


def archive_info(row: dict) -> dict:
    type_id, desc, extensions = ARCHIVE_TYPES[row["type_name"]]
    info = {
        "id": row["id"],
        "type_id": type_id,
        "type_name": row["type_name"],
        "type_description": desc,
        "type_extensions": extensions,
        "build_id": row["build_id"],
        "buildroot_id": row["buildroot_id"],
        "filename": row["filename"],
        "size": row["size"],
        "checksum": row["checksum"],
        "checksum_type": row["checksum_type"],
        "metadata_only": False,
        "extra": load_json(row["extra"]),
        "btype": row["btype"],
        "btype_id": 4 if row["btype"] == "image" else 0,
    }
    if row["btype"] == "image":
        extra = info["extra"] or {}
        image = extra.get("image") or extra.get("typeinfo", {}).get("image") or {}
        info["arch"] = image.get("arch")
    return info


@export()
def listArchives(
    buildID=None,
    buildrootID=None,
    componentBuildrootID=None,
    hostID=None,
    type=None,
    filename=None,
    size=None,
    checksum=None,
    checksum_type=None,
    typeInfo=None,
    queryOpts=None,
    imageID=None,
    archiveID=None,
    strict=False,
):
    clauses, params = [], []
    for column, value in (
        ("build_id", buildID),
        ("buildroot_id", buildrootID),
        ("btype", type),
        ("filename", filename),
        ("size", size),
        ("checksum", checksum),
        ("id", archiveID),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = current().db.all("SELECT * FROM archives" + where + " ORDER BY id", tuple(params))
    if strict and not rows:
        raise koji.GenericError("No archives found.")
    return apply_query_opts([archive_info(r) for r in rows], queryOpts)


@export()
def getArchive(archive_id, strict=False):
    rows = listArchives(archiveID=archive_id)
    if not rows:
        if strict:
            raise koji.GenericError(f"No such archive: {archive_id}")
        return None
    return rows[0]


@export()
def listBuildroots(
    hostID=None,
    tagID=None,
    state=None,
    rpmID=None,
    archiveID=None,
    taskID=None,
    buildrootID=None,
    repoID=None,
    queryOpts=None,
):
    """The sandbox keeps no buildroot records (CG buildroots live in archive extra)."""
    return apply_query_opts([], queryOpts)


# ---------------------------------------------------------------- build types


def _build_id(build_info, strict: bool) -> int | None:
    """find_build_id: an int is taken as it is, an NVR or dict is looked up."""
    from koji_containerbuild.sandbox.kojihub.api_builds import build_row

    if isinstance(build_info, int) and not isinstance(build_info, bool):
        return build_info
    if not isinstance(build_info, (str, dict)):
        raise koji.GenericError(f"Invalid type for argument: {type(build_info)!r}")
    row = build_row(build_info)
    if row is None and strict:
        raise koji.GenericError(f"No such build: {build_info!r}")
    return row["id"] if row else None


def _is_image_build(build_id: int) -> bool:
    """A build with the image btype: legacy extra.image or an image archive (CG import)."""
    row = current().db.one("SELECT extra FROM builds WHERE id = ?", (build_id,))
    extra = (load_json(row["extra"]) if row else None) or {}
    if isinstance(extra, dict) and ("image" in extra or "image" in (extra.get("typeinfo") or {})):
        return True
    return bool(listArchives(buildID=build_id, type="image", queryOpts={"countOnly": True}))


@export()
def getMavenBuild(buildInfo, strict=False):
    """The sandbox keeps no Maven builds: None (or the hub's error when strict)."""
    build_id = _build_id(buildInfo, strict)
    if build_id is not None and strict:
        raise koji.GenericError(f"no such maven build: {buildInfo}")
    return None


@export()
def getWinBuild(buildInfo, strict=False):
    """The sandbox keeps no Windows builds: None (or the hub's error when strict)."""
    build_id = _build_id(buildInfo, strict)
    if build_id is not None and strict:
        raise koji.GenericError(f"no such Windows build: {buildInfo}")
    return None


@export()
def getImageBuild(buildInfo, strict=False):
    build_id = _build_id(buildInfo, strict)
    if build_id is None:
        return None
    if _is_image_build(build_id):
        return {"build_id": build_id}
    if strict:
        raise koji.GenericError(f"no such image build: {buildInfo}")
    return None


@export()
def getBuildType(buildInfo, strict=False):
    from koji_containerbuild.sandbox.kojihub.api_builds import getBuild

    build = buildInfo if isinstance(buildInfo, dict) and "extra" in buildInfo else None
    build = build or getBuild(buildInfo, strict=strict)
    if build is None:
        return None
    types = {}
    typeinfo = (build.get("extra") or {}).get("typeinfo") or {}
    for btype in typeinfo:
        types[btype] = typeinfo[btype]
    image = getImageBuild(build["id"])
    if image:
        types["image"] = image
    return types


@export()
def listRPMs(
    buildID=None,
    buildrootID=None,
    imageID=None,
    componentBuildrootID=None,
    hostID=None,
    arches=None,
    queryOpts=None,
    draft=None,
):
    """The sandbox imports no RPMs (image components live in archive extra): none."""
    return apply_query_opts([], queryOpts)
