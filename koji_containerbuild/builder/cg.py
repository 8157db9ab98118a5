"""Import builds into Koji through the Content Generator API.

Used for builds whose backend does not import them itself (the local
backend): the NVR is reserved with CGInitBuild before the build starts, and
after success the image archives and logs are uploaded and CGImport is called
with metadata_version 0 metadata shaped the way kojihub's CG_Importer and the
tools reading OSBS builds expect (build extra.image, docker-image outputs with
extra.docker, logs). On failure the builder refunds the reservation so the NVR
can be built again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME, __version__
from koji_containerbuild.backends.base import BuildResult, ImageOutput
from koji_containerbuild.hostarch import host_arch
from koji_containerbuild.xmlsafe import xml_safe

log = logging.getLogger(f"{LOGGER_NAME}.cg")

#: Output type of image archives, as atomic-reactor imports them.
IMAGE_OUTPUT_TYPE = "docker-image"
CHECKSUM_TYPE = "sha256"
METADATA_FILENAME = "metadata.json"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class CGReservation:
    """An NVR reserved with CGInitBuild; the token proves it at import or refund."""

    build_id: int
    token: str
    cg_name: str
    nvr: str


@dataclass
class BuildRecord:
    """Build-level facts the backend does not know (they come from the task)."""

    name: str
    version: str
    release: str
    source: str
    owner: str
    task_id: int | None
    start_time: float
    end_time: float
    extra: dict[str, Any] = field(default_factory=dict)


def reserve_build(
    session: Any,
    cg_name: str,
    name: str,
    version: str,
    release: str,
    task_id: int | None = None,
) -> CGReservation:
    """Reserve the NVR so no other build takes it while this one runs.

    With ``task_id`` the reservation belongs to that task: the hub cancels it
    when the task is cancelled, and a later task can tell whose it is.
    """
    data: dict[str, Any] = {"name": name, "version": version, "release": release}
    if task_id is not None:
        data["task_id"] = int(task_id)
    reply = session.CGInitBuild(cg_name, data)
    nvr = f"{name}-{version}-{release}"
    log.info("reserved %s as build %s for %s", nvr, reply["build_id"], cg_name)
    return CGReservation(int(reply["build_id"]), str(reply["token"]), cg_name, nvr)


def refund_build(session: Any, reservation: CGReservation, state: str = "FAILED") -> None:
    """Give the NVR back (state FAILED or CANCELED) so it can be built again."""
    session.CGRefundBuild(
        reservation.cg_name,
        reservation.build_id,
        reservation.token,
        koji.BUILD_STATES[state.upper()],
    )
    log.info("refunded the reservation of %s as %s", reservation.nvr, state.upper())


def file_facts(path: str) -> tuple[int, str]:
    """Size and sha256 of a file, as the hub checks them after upload."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _host_os() -> str:
    """`NAME VERSION_ID` of this machine, as CGs report the buildroot host."""
    facts = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                facts[key] = value.strip('"')
    except OSError:
        pass
    return " ".join(filter(None, (facts.get("NAME"), facts.get("VERSION_ID")))) or "Linux"


def local_host() -> dict[str, str]:
    """CG ``host`` of a buildroot on this machine."""
    return {"os": _host_os(), "arch": host_arch()}


def _index(record: BuildRecord, result: BuildResult) -> dict[str, Any]:
    """build extra.image.index: pull specs by digest and by version-release."""
    version_release = f"{record.version}-{record.release}"
    unique = list(result.extra.get("unique_tags", []))
    by_digest = [r for r in result.repositories if "@" in r]
    tags = [r.rsplit(":", 1)[1] for r in result.repositories if "@" not in r]
    index: dict[str, Any] = {
        "tags": [t for t in tags if t not in unique],
        "unique_tags": unique,
        "floating_tags": [t for t in tags if t != version_release and t not in unique],
        "pull": [],
    }
    if by_digest:
        repository, digest = by_digest[0].split("@", 1)
        index["pull"] = [by_digest[0], f"{repository}:{version_release}"]
        media_type = next(iter(result.extra.get("index_digests", {})), MANIFEST_V2)
        index["digests"] = {media_type: digest}
    return index


def _docker_extra(image: ImageOutput, index: dict[str, Any]) -> dict[str, Any]:
    docker: dict[str, Any] = {
        "id": image.image_id,
        "repositories": list(image.repositories),
        "tags": list(image.tags),
        "floating_tags": list(index["floating_tags"]),
        "unique_tags": list(index["unique_tags"]),
        "config": image.config,
        "digests": dict(image.digests),
        "layer_sizes": list(image.layer_sizes),
    }
    if image.parent_id:
        docker["parent_id"] = image.parent_id
    return docker


def build_metadata(
    reservation: CGReservation,
    record: BuildRecord,
    result: BuildResult,
    log_files: list[str],
    relpath: str = "",
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """CGImport metadata and the ``(local path, upload name)`` files it names.

    ``relpath``: where under the import directory those files go (a multi-arch
    build's subtasks upload their archives next to them, each in its own one).
    """
    index = _index(record, result)
    extra = dict(record.extra)
    # Legacy ``extra.image`` declares the image btype; sending typeinfo.image
    # too makes a real hub answer "Duplicate typeinfo for 'image'".
    extra["image"] = {**extra.get("image", {}), "index": index}
    extra.setdefault("osbs_build", {"kind": "container_build", "engine": "buildah"})
    build: dict[str, Any] = {
        "build_id": reservation.build_id,
        "name": record.name,
        "version": record.version,
        "release": record.release,
        "source": record.source,
        "start_time": int(record.start_time),
        "end_time": int(record.end_time),
        "extra": extra,
    }
    if record.owner:
        build["owner"] = record.owner
    if record.task_id is not None:
        build["task_id"] = int(record.task_id)
        extra["container_koji_task_id"] = int(record.task_id)
    buildroots, outputs, files = [], [], []
    arch_buildroot: dict[str, int] = {}
    for number, image in enumerate(result.images, start=1):
        buildroots.append(
            {
                "id": number,
                "content_generator": {"name": reservation.cg_name, "version": __version__},
                "container": {"type": "none", "arch": image.arch},
                "host": dict(image.host) or local_host(),
                "components": list(image.buildroot_components),
                "tools": list(image.tools),
            }
        )
        arch_buildroot[image.arch] = number
        if image.uploaded:  # by the arch subtask that built it, under the import directory
            outputs.append(_uploaded_output(image.uploaded, image.arch, number))
        else:
            filename = os.path.basename(image.archive_path)
            outputs.append(_file_output(image.archive_path, filename, image.arch, number))
            files.append((image.archive_path, filename))
        outputs[-1].update(
            type=IMAGE_OUTPUT_TYPE,
            components=list(image.components),
            extra={"image": {"arch": image.arch}, "docker": _docker_extra(image, index)},
        )
    if not buildroots:
        raise koji.BuildError("The build produced no image to import into Koji.")
    for path in log_files:
        filename = os.path.basename(path)
        arch = filename[: -len(".log")] if filename.endswith(".log") else ""
        buildroot_id = arch_buildroot.get(arch, 1)
        outputs.append(_file_output(path, filename, "noarch", buildroot_id))
        outputs[-1]["type"] = "log"
        files.append((path, filename))
    names = [name for _, name in files] + [
        image.uploaded["filename"] for image in result.images if image.uploaded
    ]
    if len(set(names)) != len(names):
        raise koji.BuildError(f"Two files to import share one name: {sorted(names)}.")
    if relpath:
        for output in outputs:
            output.setdefault("relpath", relpath)
    metadata = {
        "metadata_version": 0,
        "build": build,
        "buildroots": buildroots,
        "output": outputs,
    }
    # labels and names from the build: the hub hands them out again over XML-RPC
    return xml_safe(metadata), files


def _file_output(path: str, filename: str, arch: str, buildroot_id: int) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise koji.BuildError(f"The file {path} to import into Koji is missing.")
    size, checksum = file_facts(path)
    return {
        "buildroot_id": buildroot_id,
        "filename": filename,
        "filesize": size,
        "arch": arch,
        "checksum": checksum,
        "checksum_type": CHECKSUM_TYPE,
    }


def _uploaded_output(uploaded: dict[str, Any], arch: str, buildroot_id: int) -> dict[str, Any]:
    return {
        "buildroot_id": buildroot_id,
        "relpath": str(uploaded["relpath"]),
        "filename": str(uploaded["filename"]),
        "filesize": int(uploaded["filesize"]),
        "arch": arch,
        "checksum": str(uploaded["checksum"]),
        "checksum_type": CHECKSUM_TYPE,
    }


def import_build(
    session: Any,
    reservation: CGReservation,
    record: BuildRecord,
    result: BuildResult,
    log_files: list[str],
    upload_dir: str,
    relpath: str = "",
) -> int:
    """Upload outputs and metadata into work/<upload_dir>[/<relpath>], CGImport; the build id."""
    metadata, files = build_metadata(reservation, record, result, log_files, relpath)
    own_dir = f"{upload_dir}/{relpath}" if relpath else upload_dir
    for path, name in files:
        session.uploadWrapper(path, own_dir, name=name)
    with tempfile.TemporaryDirectory(prefix="cg-metadata-") as tmp:
        metadata_path = os.path.join(tmp, METADATA_FILENAME)
        with open(metadata_path, "w", encoding="utf-8") as handle:
            json.dump(metadata, handle, indent=1, sort_keys=True)
        session.uploadWrapper(metadata_path, own_dir, name=METADATA_FILENAME)
    metadata_name = f"{relpath}/{METADATA_FILENAME}" if relpath else METADATA_FILENAME
    try:
        build = session.CGImport(metadata_name, upload_dir, token=reservation.token)
    except koji.GenericError as exc:
        raise koji.BuildError(f"Koji refused to import {reservation.nvr}: {exc}") from exc
    build_id = int(build["id"]) if isinstance(build, dict) and "id" in build else None
    log.info("imported %s as build %s", reservation.nvr, build_id or reservation.build_id)
    return build_id or reservation.build_id
