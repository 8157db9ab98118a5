"""Hub API: CGImport, checked the way kojihub's CG_Importer checks metadata.

Missing required keys surface as bare KeyError faults, as on a real hub.
Outputs must already be uploaded to work/<directory>/; archives move to
packages/<name>/<version>/<release>/images/, logs to .../data/logs/.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_archives import archive_type_for
from koji_containerbuild.sandbox.kojihub.api_base import current, export
from koji_containerbuild.sandbox.kojihub.api_builds import (
    BUILD_STATES,
    assert_cg,
    build_row,
    check_build_nvr,
    getBuild,
    new_build,
)
from koji_containerbuild.sandbox.kojihub.api_core import user_row
from koji_containerbuild.sandbox.kojihub.state import dump_json
from koji_containerbuild.sandbox.kojihub.uploads import verify_class

KNOWN_BTYPES = ("rpm", "maven", "win", "image")
LEGACY_BTYPES = ("maven", "win", "image")


def _work_path(*parts: str) -> str:
    workdir = os.path.realpath(current().workdir)
    path = os.path.realpath(os.path.join(workdir, *parts))
    if not path.startswith(workdir + os.sep):
        raise koji.GenericError(
            "Invalid path outside the work directory: {}".format("/".join(parts))
        )
    return path


def load_metadata(metadata, directory) -> tuple[dict, str]:
    if isinstance(metadata, dict):
        return metadata, json.dumps(metadata, indent=2)
    if metadata is None:
        metadata = "metadata.json"
    if not isinstance(metadata, str):
        raise koji.ParameterError(f"Invalid type for value '{metadata}': {type(metadata)}")
    if metadata.endswith(".json"):
        path = _work_path(directory, metadata)
        if not os.path.exists(path):
            raise koji.GenericError(f"No such file: {metadata}")
        with open(path, encoding="utf-8") as f:
            metadata = f.read()
    try:
        return json.loads(metadata), metadata
    except ValueError:
        raise koji.GenericError(f"Invalid metadata json: {metadata[:100]!r}") from None


def task_id_from(build: dict):
    task_id = build.get("task_id")
    task_id = int(task_id) if task_id is not None else None
    if "container_koji_task_id" in build.get("extra", {}):
        other = int(build["extra"]["container_koji_task_id"])
        if task_id is not None and task_id != other:
            raise koji.GenericError(
                f"CG provided non-matching task_id {task_id} and container_koji_task_id {other}"
            )
        return other
    return task_id


class _Importer:
    def __init__(self, metadata: dict, raw: str, directory: str):
        self.metadata = metadata
        self.raw = raw
        self.directory = directory

    def run(self, token):
        if self.metadata["metadata_version"] != 0:
            raise koji.GenericError(
                "No such metadata version: {!r}".format(self.metadata["metadata_version"])
            )
        self.cg_id = self.check_cg_access()
        self.prep_build(token)
        self.prep_buildroots()
        self.prep_outputs()
        policy_data = {
            "package": self.build["name"],
            "version": self.build["version"],
            "release": self.build["release"],
            "btypes": list(self.typeinfo),
            "source": self.build.get("source"),
            "cg_list": [self.cg_id],
        }
        result = current().evaluate_policy("cg_import", policy_data) or "allow"
        if result.split()[0] != "allow":
            raise koji.ActionNotAllowed("policy violation (cg_import)")
        builddir = self.build_dir()
        if os.path.lexists(builddir):
            raise koji.GenericError(f"Destination directory already exists: {builddir}")
        try:
            return self.store(token, builddir)
        except Exception:
            shutil.rmtree(builddir, ignore_errors=True)
            raise

    def check_cg_access(self) -> int:
        cg_id = None
        for brdata in self.metadata["buildroots"]:
            name = brdata["content_generator"]["name"]
            row = current().db.one("SELECT id FROM content_generators WHERE name = ?", (name,))
            if row is None:
                raise koji.GenericError(f"No such entry in table content_generator: {name}")
            if cg_id is not None and cg_id != row["id"]:
                raise koji.GenericError("Koji now support only one content-generator per import")
            cg_id = row["id"]
        if cg_id is None:
            raise koji.GenericError("No buildroots in metadata: no content generator named")
        assert_cg(cg_id)
        return cg_id

    def prep_build(self, token) -> None:
        meta = self.metadata["build"]
        if meta.get("build_id"):
            build_id = meta["build_id"]
            row = build_row(build_id, strict=True)
            task_id = task_id_from(meta)
            if not row["token"] or row["token"] != token:
                raise koji.GenericError(f"Token doesn't match build ID {build_id}")
            if row["cg_id"] != self.cg_id:
                raise koji.GenericError(f"Build ID {build_id} is not reserved by this CG")
            if row["task_id"] and row["task_id"] != task_id:
                raise koji.GenericError(f"Build is owned by task {row['task_id']}")
            if row["state"] != BUILD_STATES["BUILDING"]:
                raise koji.GenericError(f"Build ID {build_id} is not in BUILDING state")
            if (row["package_name"], row["version"], row["release"]) != (
                meta["name"],
                meta["version"],
                meta["release"],
            ):
                raise koji.GenericError(f"Build ({build_id}) NVR is different")
        elif token is not None:
            raise koji.GenericError("Reservation token given, but no build_id in metadata")
        else:
            old = getBuild(meta)
            if old and koji.BUILD_STATES[old["state"]] not in ("CANCELED", "FAILED"):
                raise koji.GenericError(f"Build already exists: {old['nvr']} (id={old['id']})")
        build = {key: meta[key] for key in ("name", "version", "release", "extra", "source")}
        build["build_id"] = meta.get("build_id")
        build["epoch"] = meta.get("epoch")
        build["start_time"] = float(meta["start_time"])
        build["completion_time"] = float(meta["end_time"])
        build["task_id"] = task_id_from(meta)
        if build["task_id"] is not None and not current().db.one(
            "SELECT 1 FROM tasks WHERE id = ?", (build["task_id"],)
        ):  # the real build table's task_id references the task table
            raise koji.GenericError(f"No such task: {build['task_id']}")
        owner = meta.get("owner")
        if owner:
            if not isinstance(owner, str):
                raise koji.GenericError(f"Invalid owner format (expected username): {owner}")
            build["owner"] = user_row(owner, strict=True)["id"]
        check_build_nvr(build)
        extra = build["extra"] = dict(build["extra"] or {})
        typeinfo = extra.setdefault("typeinfo", {})
        for btype in LEGACY_BTYPES:
            if btype in extra:
                if btype in typeinfo:
                    raise koji.GenericError(f"Duplicate typeinfo for {btype!r}")
                typeinfo[btype] = extra[btype]
        for btype in typeinfo:
            if btype not in KNOWN_BTYPES:
                raise koji.GenericError(f"No such entry in table btype: {btype}")
        self.typeinfo = typeinfo
        self.build = build

    def prep_buildroots(self) -> None:
        used = {output["buildroot_id"] for output in self.metadata["output"]}
        self.buildroots = {}
        for brdata in self.metadata["buildroots"]:
            br_id = brdata["id"]
            if br_id not in used:
                raise koji.GenericError(f"Buildroot id not used in output: {br_id!r}")
            if br_id in self.buildroots:
                raise koji.GenericError(f"Duplicate buildroot id in metadata: {br_id!r}")
            # the keys a real hub reads for its buildroot record
            for key in ("version",):
                brdata["content_generator"][key]
            brdata["container"]["type"], brdata["container"]["arch"]
            brdata["host"]["os"], brdata["host"]["arch"]
            brdata["tools"]
            self.check_components(brdata["components"])
            self.buildroots[br_id] = brdata

    @staticmethod
    def check_components(components) -> None:
        for comp in components:
            if comp["type"] == "rpm":
                if "location" in comp:
                    raise koji.GenericError("External rpms not allowed")
                if "id" in comp:
                    raise koji.GenericError("Unexpected 'id' field in component")
            elif comp["type"] not in ("file", "kojifile"):
                raise koji.GenericError("No such component type: {type}".format(**comp))

    def prep_outputs(self) -> None:
        self.outputs = []
        for fileinfo in self.metadata["output"]:
            fileinfo = dict(fileinfo)
            path = _work_path(self.directory, fileinfo.get("relpath", ""), fileinfo["filename"])
            fileinfo["hub.path"] = path
            filesize = os.path.getsize(path)
            if filesize != fileinfo["filesize"]:
                raise koji.GenericError(
                    "File size {} for {} (expected {}) doesn't match. Corrupted upload?".format(
                        filesize, fileinfo["filename"], fileinfo["filesize"]
                    )
                )
            chksum = verify_class(fileinfo["checksum_type"])()
            with open(path, "rb") as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):
                    chksum.update(block)
            if fileinfo["checksum"] != chksum.hexdigest():
                raise koji.GenericError(
                    "File checksum mismatch for {}: {} != {}".format(
                        fileinfo["filename"], fileinfo["checksum"], chksum.hexdigest()
                    )
                )
            if fileinfo["buildroot_id"] not in self.buildroots:
                raise koji.GenericError(
                    "Missing buildroot metadata for id {buildroot_id!r}".format(**fileinfo)
                )
            if fileinfo["type"] == "rpm":
                raise koji.GenericError("rpm outputs are not supported by the sandbox hub")
            if fileinfo["type"] != "log":
                self.prep_archive(fileinfo)
            self.outputs.append(fileinfo)

    def prep_archive(self, fileinfo: dict) -> None:
        extra = fileinfo.get("extra", {})
        btype = type_info = None
        for key in extra:
            if key in LEGACY_BTYPES:
                if btype is not None:
                    raise koji.GenericError(
                        "Output file has multiple types: {filename}".format(**fileinfo)
                    )
                btype, type_info = key, extra[key]
        for key in extra.get("typeinfo", {}):
            if btype == key:
                raise koji.GenericError(f"Duplicate typeinfo for: {btype!r}")
            if btype is not None:
                raise koji.GenericError(
                    "Output file has multiple types: {filename}".format(**fileinfo)
                )
            btype, type_info = key, extra["typeinfo"][key]
        if btype is None:
            raise koji.GenericError("No typeinfo for: {filename}".format(**fileinfo))
        if btype not in self.typeinfo:
            raise koji.GenericError(f"Output type {btype} not listed in build types")
        if archive_type_for(fileinfo["filename"]) is None:
            raise koji.GenericError("unsupported file extension: {}".format(fileinfo["filename"]))
        fileinfo["hub.btype"] = btype
        fileinfo["hub.type_info"] = type_info
        fileinfo["hub.checksum_type"] = koji.CHECKSUM_TYPES[fileinfo["checksum_type"]]
        if btype == "image":
            fileinfo["hub.arch"] = type_info["arch"]

    def build_dir(self) -> str:
        """packages/<name>/<version>/<release>, never a directory above it."""
        build = self.build
        packages = os.path.realpath(current().packagesdir)
        path = os.path.join(packages, build["name"], build["version"], build["release"])
        if os.path.dirname(os.path.dirname(os.path.realpath(path))) != os.path.realpath(
            os.path.join(packages, build["name"])
        ):
            raise koji.GenericError(f"Invalid build directory outside {packages}: {path}")
        return path

    def store(self, token, builddir: str) -> dict:
        hub = current()
        build = self.build
        owner = build.get("owner", context.session.user_id)
        with hub.db.write() as cnx:
            if token:
                build_id = build["build_id"]
                # as CG_Importer.update_build: the start time stays the reservation's
                cnx.execute(
                    "UPDATE builds SET state = ?, extra = ?, owner_id = ?, source = ?, "
                    "task_id = ?, completion_ts = ?, token = NULL WHERE id = ?",
                    (
                        BUILD_STATES["COMPLETE"],
                        dump_json(build["extra"]),
                        owner,
                        build.get("source"),
                        build["task_id"],
                        time.time(),
                        build_id,
                    ),
                )
                hub.db.new_event(cnx)
            else:
                data = dict(build, owner=owner, state=BUILD_STATES["COMPLETE"], cg_id=self.cg_id)
                build_id = new_build(data, cnx)
            for fileinfo in self.outputs:
                self.store_output(cnx, build_id, builddir, fileinfo)
            os.makedirs(builddir, exist_ok=True)
            with open(os.path.join(builddir, "metadata.json"), "w", encoding="utf-8") as f:
                f.write(self.raw)
        return getBuild(build_id, strict=True)

    @staticmethod
    def store_output(cnx, build_id: int, builddir: str, fileinfo: dict) -> None:
        if fileinfo["type"] == "log":
            dest_dir = os.path.join(builddir, "data", "logs", fileinfo.get("subdir") or "")
            cnx.execute(
                "INSERT INTO build_logs (build_id, filename, subdir) VALUES (?, ?, ?)",
                (build_id, fileinfo["filename"], fileinfo.get("subdir") or ""),
            )
        else:
            dest_dir = os.path.join(
                builddir,
                "images" if fileinfo["hub.btype"] == "image" else "files/" + fileinfo["hub.btype"],
            )
            extra = fileinfo.get("extra")
            cnx.execute(
                "INSERT INTO archives (build_id, type_name, btype, buildroot_id, filename, "
                "size, checksum, checksum_type, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    build_id,
                    archive_type_for(fileinfo["filename"]),
                    fileinfo["hub.btype"],
                    fileinfo["buildroot_id"],
                    fileinfo["filename"],
                    fileinfo["filesize"],
                    fileinfo["checksum"],
                    fileinfo["hub.checksum_type"],
                    dump_json(extra) if extra is not None else None,
                ),
            )
        os.makedirs(dest_dir, exist_ok=True)
        shutil.move(fileinfo["hub.path"], os.path.join(dest_dir, fileinfo["filename"]))


@export()
def CGImport(metadata, directory, token=None):
    context.session.assertLogin()
    metadata, raw = load_metadata(metadata, directory)
    return _Importer(metadata, raw, directory).run(token)


@export()
def getBuildLogs(buildinfo):
    row = build_row(buildinfo, strict=True)
    builddir = os.path.join(
        current().packagesdir, row["package_name"], row["version"], row["release"]
    )
    logs = current().db.all(
        "SELECT filename, subdir FROM build_logs WHERE build_id = ? ORDER BY id", (row["id"],)
    )
    result = []
    for log in logs:
        rel = os.path.join("data", "logs", log["subdir"], log["filename"])
        result.append(
            {
                "name": log["filename"],
                "dir": log["subdir"] or "noarch",
                "path": os.path.relpath(os.path.join(builddir, rel), current().topdir),
            }
        )
    return result
