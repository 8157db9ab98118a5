"""Watching a submitted container build task and reporting its outcome.

Part of the koji CLI commands (koji_containerbuild.cli): this is user-interface
code, so it prints. Watching reuses koji_cli.lib (watch_tasks, watch_logs) so
the output looks like the rest of the koji CLI.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TextIO

import koji
from koji_cli.lib import watch_logs, watch_tasks


def task_url(weburl: str, task_id: int) -> str:
    return f"{weburl.rstrip('/')}/taskinfo?taskID={task_id}"


def build_url(weburl: str, build_id: int) -> str:
    return f"{weburl.rstrip('/')}/buildinfo?buildID={build_id}"


def print_json(data: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    stream.flush()


@dataclass
class TaskOutcome:
    """The final state of a task and what it produced, as the CLI reports it."""

    task_id: int
    task_url: str
    state: str
    result: Any = None
    error: str | None = None
    koji_builds: list[dict] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.state == "CLOSED"

    def as_dict(self) -> dict:
        result = self.result if isinstance(self.result, dict) else {}
        return {
            "task_id": self.task_id,
            "task_url": self.task_url,
            "state": self.state,
            "succeeded": self.succeeded,
            "error": self.error,
            "repositories": list(result.get("repositories") or []),
            "koji_builds": self.koji_builds,
            "user_warnings": list(result.get("user_warnings") or []),
            "result": self.result,
        }


def collect_outcome(session: Any, task_id: int, weburl: str) -> TaskOutcome:
    """Read the task's final state, result or failure, and its Koji builds."""
    info = session.getTaskInfo(task_id)
    state = koji.TASK_STATES[info["state"]]
    outcome = TaskOutcome(task_id, task_url(weburl, task_id), state)
    if state == "CLOSED":
        outcome.result = session.getTaskResult(task_id)
    elif state == "FAILED":
        try:
            session.getTaskResult(task_id)
        except koji.GenericError as exc:
            outcome.error = f"{type(exc).__name__}: {str(exc).strip()}"
    if isinstance(outcome.result, dict):
        outcome.koji_builds = [
            _build_entry(session, weburl, build_id)
            for build_id in outcome.result.get("koji_builds") or []
        ]
    return outcome


def _build_entry(session: Any, weburl: str, build_id: Any) -> dict:
    # Results carry build ids as strings for old clients (fedpkg does int() too).
    numeric_id = int(build_id)
    build = session.getBuild(numeric_id)
    return {
        "id": numeric_id,
        "nvr": build["nvr"] if build else None,
        "url": build_url(weburl, numeric_id),
    }


def print_outcome(outcome: TaskOutcome, stream: TextIO | None = None) -> None:
    """Human-readable summary: repositories, Koji build links, user warnings, the rest."""
    stream = stream or sys.stdout
    if not outcome.succeeded:
        if outcome.error:
            stream.write(f"Task {outcome.task_id} failed: {outcome.error}\n")
        else:
            stream.write(f"Task {outcome.task_id} ended {outcome.state}\n")
        return
    result = outcome.result if isinstance(outcome.result, dict) else {"result": outcome.result}
    lines = [f"Task {outcome.task_id} result:"]
    repositories = result.get("repositories") or []
    if repositories:
        lines.append("  Repositories:")
        lines.extend(f"    {repo}" for repo in repositories)
    if outcome.koji_builds:
        lines.append("  Koji builds:")
        lines.extend(
            f"    {build['nvr'] or build['id']}  {build['url']}" for build in outcome.koji_builds
        )
    warnings = result.get("user_warnings") or []
    if warnings:
        lines.append("  User warnings:")
        lines.extend(f"    {warning}" for warning in warnings)
    shown = {"repositories", "koji_builds", "user_warnings"}
    for key in sorted(k for k in result if k not in shown):
        lines.append(f"  {key}: {_compact(result[key])}")
    stream.write("\n".join(lines) + "\n")
    stream.flush()


def _compact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _line_buffered(stream: TextIO) -> None:
    # watch_logs mixes text writes with writes to stdout.buffer; flushing at every
    # newline keeps the headers and the log bytes in order on a pipe.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError):
            reconfigure(line_buffering=True)


def watch_and_report(goptions: Any, session: Any, task_id: int, values: Any) -> int:
    """Watch the task (and its logs with --follow-logs), print the outcome, return the status.

    With --json, everything but the final JSON object goes to stderr so stdout
    stays machine readable.
    """
    weburl = getattr(goptions, "weburl", None) or ""
    poll_interval = getattr(goptions, "poll_interval", 6)
    progress = sys.stderr if values.json else sys.stdout
    _line_buffered(progress)
    # As `koji build` does: the watch needs no login, don't hold a session open.
    session.logout()
    with contextlib.redirect_stdout(progress):
        if values.follow_logs:
            watch_logs(session, [task_id], SimpleNamespace(log=None, follow=True), poll_interval)
            progress.write("\n")
        watch_tasks(
            session,
            [task_id],
            quiet=values.quiet,
            poll_interval=poll_interval,
            topurl=getattr(goptions, "topurl", None),
        )
    outcome = collect_outcome(session, task_id, weburl)
    if values.json:
        print_json(outcome.as_dict())
    elif outcome.succeeded:
        print_outcome(outcome)
    elif values.quiet:
        # watch_tasks said nothing; the reason must still reach the user.
        print_outcome(outcome, sys.stderr)
    return 0 if outcome.succeeded else 1
