"""The pages of the sandbox web view, one function per kojiweb page.

Each takes a HubReader (the hub's API as an anonymous client) and the query
parameters and returns (title, body markup). The facts shown follow kojiweb's
pages; the markup is made from escaped pieces by web_html only.
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any, Callable

import koji
import koji.tasks

from koji_containerbuild.sandbox.kojiweb import web_build
from koji_containerbuild.sandbox.kojiweb import web_html as h

#: bytes of a log shown in the page itself; the live tail and the link have the rest
LOG_TAIL_BYTES = 64 * 1024
LIST_LIMIT = 50
FINISHED = ("CLOSED", "FAILED", "CANCELED")


def _task_state(info: dict) -> str:
    return koji.TASK_STATES[info["state"]]


def _build_state(info: dict) -> str:
    return koji.BUILD_STATES[info["state"]]


def _user_name(reader: Any, user_id: Any) -> str | None:
    user = reader.getUser(user_id) if user_id is not None else None
    return user["name"] if user else None


def task_files_url(task_id: int, name: str = "") -> str:
    """Where the task's output file is under the profile's topurl."""
    return f"/kojifiles/work/{koji.pathinfo.taskrelpath(task_id)}/{urllib.parse.quote(name)}"


def log_sizes(reader: Any, task_id: int) -> dict[str, int]:
    """The task's log files and their sizes in bytes."""
    output = reader.listTaskOutput(task_id, stat=True)
    return {
        name: int(stat["st_size"])
        for name, stat in sorted(output.items())
        if name.endswith(".log")
    }


def _task_label(info: dict) -> str:
    return koji.taskLabel(info) if info.get("request") is not None else info["method"]


# ---------------------------------------------------------------- tasks


_REQUEST_LABELS = {"src": "Source", "target": "Target", "opts": "Options"}


def _request_rows(info: dict) -> list[tuple[str, Any]]:
    request = info.get("request") or []
    try:
        params = koji.tasks.parse_task_params(info["method"], request)
    except Exception:
        params = {f"parameter {n}": value for n, value in enumerate(request, start=1)}
    rows: list[tuple[str, Any]] = []
    for key, value in params.items():
        label = _REQUEST_LABELS.get(key, key)
        if key == "opts" and isinstance(value, dict):
            options = [(name, h.structured(opt)) for name, opt in sorted(value.items())]
            rows.append((label, h.facts(options) if options else "none"))
        elif value is not None:
            rows.append((label, h.structured(value)))
    return rows


def _result_body(reader: Any, task_id: int, state: str) -> h.Markup:
    if state == "CANCELED":
        return h.tag("p", "The task was canceled.", class_="failure")
    if state not in FINISHED:
        return h.tag("p", "The task has not finished yet.", class_="empty")
    result = reader.getTaskResult(task_id, raise_fault=False)
    if isinstance(result, dict) and "faultString" in result and state == "FAILED":
        return h.tag("p", result["faultString"], class_="failure", id="failure")
    if not isinstance(result, dict):
        return h.structured(result)
    rows: list[tuple[str, Any]] = []
    repositories = result.get("repositories") or []
    if repositories:
        rows.append(("Pull specs", h.items(h.pull_spec(spec) for spec in repositories)))
    builds = []
    for build_id in result.get("koji_builds") or []:
        build = reader.getBuild(int(build_id)) if str(build_id).isdigit() else None
        builds.append(h.build_link(build["id"], build["nvr"]) if build else h.text(build_id))
    if builds:
        rows.append(("Koji builds", h.items(builds)))
    warnings = result.get("user_warnings") or []
    if warnings:
        rows.append(("User warnings", h.items(warnings)))
    shown = ("repositories", "koji_builds", "user_warnings")
    rows += [
        (key, h.structured(value)) for key, value in sorted(result.items()) if key not in shown
    ]
    return h.facts(rows)


def _logs_body(reader: Any, task_id: int, state: str) -> h.Markup:
    parts = []
    for name, total in log_sizes(reader, task_id).items():
        start = max(0, total - LOG_TAIL_BYTES)
        data = reader.downloadTaskOutput(task_id, name, start, total - start) if total else ""
        shown = base64.b64decode(data).decode("utf-8", errors="replace")
        note = h.tag("p", f"Earlier lines are in the full log ({h.size(total)}).") if start else ""
        parts.append(
            h.tag(
                "section",
                h.tag("h3", h.link(task_files_url(task_id, name), name))
                + h.text(note)
                + h.tag("pre", shown, class_="log", data_name=name, data_offset=total),
            )
        )
    body = h.join(parts) if parts else h.tag("p", "No log files yet.", class_="empty")
    live = state not in FINISHED
    note = "Following the logs while the task runs." if live else ""
    return h.tag("p", note, id="live-note") + h.tag(
        "div",
        body,
        id="live-logs" if live else None,
        data_task_id=task_id,
        data_file_base=task_files_url(task_id),
    )


def taskinfo(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    task_id = h.number_param(params, "taskID")
    info = reader.getTaskInfo(task_id, request=True)
    if info is None:
        raise h.missing(f"task {task_id}")
    state = _task_state(info)
    channel = reader.getChannel(info["channel_id"]) if info.get("channel_id") else None
    host = reader.getHost(info["host_id"]) if info.get("host_id") else None
    parent = h.task_link(info["parent"]) if info.get("parent") else None
    children = [
        h.task_link(child["id"], child["method"]) + " " + h.state(_task_state(child))
        for child in reader.getTaskChildren(task_id)
    ]
    facts = h.facts(
        [
            ("ID", task_id),
            ("Method", info["method"]),
            ("Owner", _user_name(reader, info["owner"])),
            ("State", h.state(state, "task-state")),
            ("Created", h.when(info.get("create_ts"))),
            ("Started", h.when(info.get("start_ts"))),
            ("Finished", h.when(info.get("completion_ts"))),
            ("Duration", h.duration(info.get("start_ts"), info.get("completion_ts"))),
            ("Channel", channel["name"] if channel else None),
            ("Host", host["name"] if host else None),
            ("Arch", info.get("arch")),
            ("Priority", info.get("priority")),
            ("Parent", parent),
            ("Children", h.items(children) if children else None),
        ]
    )
    body = (
        facts
        + h.section("Request", h.facts(_request_rows(info)))
        + h.section("Result", _result_body(reader, task_id, state))
        + h.section("Logs", _logs_body(reader, task_id, state))
    )
    return f"Task {task_id}: {_task_label(info)}", body


def _task_rows(tasks: list[dict]) -> list[list[Any]]:
    return [
        [
            h.task_link(t["id"]),
            h.task_link(t["id"], _task_label(t)),
            t.get("owner_name"),
            h.state(_task_state(t)),
            h.when(t.get("create_ts")),
            h.when(t.get("completion_ts")),
        ]
        for t in tasks
    ]


_TASK_HEADERS = ("ID", "Task", "Owner", "State", "Created", "Finished")
_BUILD_HEADERS = ("ID", "NVR", "Built by", "State", "Finished")


def _recent_tasks(reader: Any, limit: int, state: str | None = None) -> list[dict]:
    opts: dict[str, Any] = {"decode": True}
    if state:
        if state.upper() not in koji.TASK_STATES:
            raise h.missing(f"task state {state!r} (use FREE, OPEN, CLOSED, FAILED, CANCELED)")
        opts["state"] = [koji.TASK_STATES[state.upper()]]
    return reader.listTasks(opts, {"order": "-id", "limit": limit})


def tasks(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    rows = _task_rows(_recent_tasks(reader, LIST_LIMIT, params.get("state")))
    return "Tasks", h.table(_TASK_HEADERS, rows, "No tasks yet.")


def _build_rows(builds: list[dict]) -> list[list[Any]]:
    return [
        [
            h.build_link(b["id"]),
            h.build_link(b["id"], b["nvr"]),
            b.get("owner_name"),
            h.state(_build_state(b)),
            h.when(b.get("completion_ts")),
        ]
        for b in builds
    ]


def builds(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    recent = reader.listBuilds(queryOpts={"order": "-id", "limit": LIST_LIMIT})
    return "Builds", h.table(_BUILD_HEADERS, _build_rows(recent), "No builds yet.")


def index(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    recent_builds = reader.listBuilds(queryOpts={"order": "-id", "limit": 10})
    body = h.section(
        "Recent tasks",
        h.table(_TASK_HEADERS, _task_rows(_recent_tasks(reader, 10)), "No tasks yet."),
    ) + h.section(
        "Recent builds", h.table(_BUILD_HEADERS, _build_rows(recent_builds), "No builds yet.")
    )
    return "Summary", body


def packageinfo(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    package = reader.getPackage(h.id_or_name_param(params, "packageID"))
    if package is None:
        raise h.missing(f"package {params['packageID']!r}")
    listings = reader.listPackages(pkgID=package["id"])
    tag_rows = [
        [h.link(h.page_url("taginfo", tagID=row["tag_id"]), row["tag_name"]),
         row.get("owner_name"), "yes" if row.get("blocked") else "no"]
        for row in listings
    ]  # fmt: skip
    package_builds = reader.listBuilds(packageID=package["id"], queryOpts={"order": "-id"})
    body = (
        h.facts([("ID", package["id"]), ("Name", package["name"])])
        + h.section("Tags", h.table(("Tag", "Owner", "Blocked"), tag_rows, "In no tag."))
        + h.section("Builds", h.table(_BUILD_HEADERS, _build_rows(package_builds), "No builds."))
    )
    return f"Package {package['name']}", body


def taginfo(reader: Any, params: dict[str, str]) -> tuple[str, h.Markup]:
    tag = reader.getTag(h.id_or_name_param(params, "tagID"))
    if tag is None:
        raise h.missing(f"tag {params['tagID']!r}")
    targets = reader.getBuildTargets(buildTagID=tag["id"]) + reader.getBuildTargets(
        destTagID=tag["id"]
    )
    target_rows = [
        [t["name"], h.link(h.page_url("taginfo", tagID=t["build_tag"]), t["build_tag_name"]),
         h.link(h.page_url("taginfo", tagID=t["dest_tag"]), t["dest_tag_name"])]
        for t in {t["id"]: t for t in targets}.values()
    ]  # fmt: skip
    package_rows = [
        [h.link(h.page_url("packageinfo", packageID=row["package_id"]), row["package_name"]),
         row.get("owner_name"), "yes" if row.get("blocked") else "no"]
        for row in reader.listPackages(tagID=tag["id"])
    ]  # fmt: skip
    tagged = reader.listTagged(tag["id"])
    body = (
        h.facts(
            [
                ("ID", tag["id"]),
                ("Name", tag["name"]),
                ("Arches", tag.get("arches") or "none"),
                ("Locked", "yes" if tag.get("locked") else "no"),
                ("Permission", tag.get("perm") or "none"),
            ]
        )
        + h.section(
            "Targets", h.table(("Target", "Build tag", "Destination tag"), target_rows, "None.")
        )
        + h.section("Packages", h.table(("Package", "Owner", "Blocked"), package_rows, "None."))
        + h.section("Tagged builds", h.table(_BUILD_HEADERS, _build_rows(tagged), "None."))
    )
    return f"Tag {tag['name']}", body


PAGES: dict[str, Callable[[Any, dict[str, str]], tuple[str, h.Markup]]] = {
    "index": index,
    "tasks": tasks,
    "taskinfo": taskinfo,
    "builds": builds,
    "buildinfo": web_build.buildinfo,
    "packageinfo": packageinfo,
    "taginfo": taginfo,
}
