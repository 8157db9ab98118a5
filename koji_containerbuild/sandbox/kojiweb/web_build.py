"""The build page of the sandbox web view (kojiweb's buildinfo) for container images.

Besides kojiweb's facts (NVR, state, owner, task, source, tags, archives, logs)
it shows what a container build records in extra: pull specs, digests per
arch, the registry tags, the parent build and the image labels.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import koji

from koji_containerbuild.sandbox.kojiweb import web_html as h


def _image_extra(build: dict) -> dict:
    extra = build.get("extra") or {}
    return extra.get("image") or (extra.get("typeinfo") or {}).get("image") or {}


def _task_id(build: dict) -> Any:
    return build.get("task_id") or (build.get("extra") or {}).get("container_koji_task_id")


def build_tags(reader: Any, build_id: int) -> list[dict]:
    """The tags the build is in, from each tag's listing (listTagged)."""
    return [
        tag
        for tag in reader.listTags()
        if any(tagged["id"] == build_id for tagged in reader.listTagged(tag["id"]))
    ]


def _parent(reader: Any, image: dict) -> Any:
    parent_id = image.get("parent_build_id")
    if parent_id is not None:
        parent = reader.getBuild(parent_id)
        return h.build_link(parent_id, parent["nvr"] if parent else parent_id)
    parents = image.get("parent_image_builds") or {}
    if parents:
        return h.items(
            h.join([name, " \u2192 ", h.build_link(info.get("id"), info.get("nvr"))])
            for name, info in sorted(parents.items())
            if isinstance(info, dict)
        )
    return None


def _archive_url(build: dict, archive: dict) -> str:
    """The image file under topurl (packages/N/V/R/images/FILE)."""
    parts = (build["name"], build["version"], build["release"], "images", archive["filename"])
    return "/kojifiles/packages/" + "/".join(urllib.parse.quote(part) for part in parts)


def _docker(archive: dict) -> dict:
    return (archive.get("extra") or {}).get("docker") or {}


def _labels(archives: list[dict]) -> dict:
    for archive in archives:
        config = _docker(archive).get("config") or {}
        labels = (config.get("config") or {}).get("Labels") or {}
        if labels:
            return labels
    return {}


def _image_rows(image: dict, archives: list[dict]) -> list[tuple[str, Any]]:
    index = image.get("index") or {}
    rows: list[tuple[str, Any]] = []
    pull = index.get("pull") or []
    if pull:
        rows.append(("Pull specs", h.items(h.pull_spec(spec) for spec in pull)))
    digests = index.get("digests") or {}
    if digests:
        rows.append(("Index digests", h.items(f"{kind}: {d}" for kind, d in digests.items())))
    per_arch = []
    for archive in archives:
        for kind, digest in sorted((_docker(archive).get("digests") or {}).items()):
            per_arch.append(h.join([archive.get("arch") or "noarch", ": ", h.code(digest),
                                    " (", kind, ")"]))  # fmt: skip
    if per_arch:
        rows.append(("Digests per arch", h.items(per_arch)))
    for key, label in (("tags", "Tags"), ("floating_tags", "Floating tags"),
                       ("unique_tags", "Unique tags")):  # fmt: skip
        if index.get(key):
            rows.append((label, h.join((h.code(t) for t in index[key]), ", ")))
    return rows


def _checksum_type(value: Any) -> Any:
    """Archives carry the checksum type as koji.CHECKSUM_TYPES' number."""
    try:
        return koji.CHECKSUM_TYPES[value]
    except KeyError:
        return value


def _archive_rows(build: dict, archives: list[dict]) -> list[list[Any]]:
    return [
        [
            h.link(_archive_url(build, a), a["filename"]),
            a.get("arch") or "noarch",
            a.get("btype"),
            h.size(a.get("size")),
            h.join([_checksum_type(a.get("checksum_type")), ": ", h.code(a.get("checksum"))]),
            h.code(_docker(a).get("id")) if _docker(a).get("id") else "",
        ]
        for a in archives
    ]


def buildinfo(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    build_id = h.number_param(params, "buildID")
    build = reader.getBuild(build_id)
    if build is None:
        raise h.missing(f"build {build_id}")
    image = _image_extra(build)
    archives = reader.listArchives(buildID=build_id)
    task_id = _task_id(build)
    tag_links = [
        h.link(h.page_url("taginfo", tagID=t["id"]), t["name"])
        for t in build_tags(reader, build_id)
    ]
    package_url = h.page_url("packageinfo", packageID=build["package_id"])
    facts = h.facts(
        [
            ("ID", build_id),
            ("NVR", build["nvr"]),
            ("Package", h.link(package_url, build["package_name"])),
            ("Version", build["version"]),
            ("Release", build["release"]),
            ("State", h.state(koji.BUILD_STATES[build["state"]], "build-state")),
            ("Built by", build.get("owner_name")),
            ("Task", h.task_link(task_id) if task_id else None),
            ("Source", h.code(build["source"]) if build.get("source") else None),
            ("Content generator", build.get("cg_name")),
            ("Started", h.when(build.get("start_ts"))),
            ("Finished", h.when(build.get("completion_ts"))),
            ("Tags", h.join(tag_links, ", ") if tag_links else "none"),
        ]
    )
    image_rows = _image_rows(image, archives)
    parent = _parent(reader, image)
    if parent is not None:
        image_rows.append(("Parent build", parent))
    labels = _labels(archives)
    logs = reader.getBuildLogs(build_id)
    log_rows = [
        [h.link("/kojifiles/" + urllib.parse.quote(log["path"]), log["name"]), log["dir"]]
        for log in logs
    ]
    headers = ("File", "Arch", "Type", "Size", "Checksum", "Image ID")
    body = (
        facts
        + h.section("Image", h.facts(image_rows) if image_rows else "No image facts recorded.")
        + h.section("Archives", h.table(headers, _archive_rows(build, archives), "No archives."))
        + h.section(
            "Labels",
            h.facts(sorted(labels.items())) if labels else h.tag("p", "None.", class_="empty"),
        )
        + h.section("Logs", h.table(("Log", "Arch"), log_rows, "No logs."))
    )
    return f"Build {build['nvr']}", body
