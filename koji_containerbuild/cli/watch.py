"""Watching a submitted container build task and reporting its outcome.

Part of the koji CLI commands (koji_containerbuild.cli.commands): this is user-interface
code, so it prints. Watching reuses koji_cli.lib (watch_tasks, watch_logs) so
the output looks like the rest of the koji CLI.

Build logs and task results are written by the build, so what reaches a
terminal is escaped the way ``less`` shows it: ESC as ``^[``, other C0
controls in caret notation, C1 controls and bidi overrides as ``<U+XXXX>``,
bytes that are not UTF-8 as ``<XX>``. Logs piped to a file stay byte-exact.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TextIO

import koji
from koji_cli.lib import watch_logs, watch_tasks

# C0 controls but TAB and LF, CR not ending a line, DEL, C1 controls, line and
# paragraph separators, bidi embeddings/overrides/isolates, lone surrogates
# (bytes that were not UTF-8, decoded with surrogateescape).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
    "\u2066-\u2069\ud800-\udfff]|\r(?!\n)"
)


def _shown(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return "^" + chr(code ^ 0x40)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"<{code - 0xDC00:02X}>"
    return f"<U+{code:04X}>"


def terminal_safe(text: str) -> str:
    """``text`` with everything that could drive a terminal shown as visible text."""
    return _UNSAFE.sub(_shown, text)


class _EscapingBuffer:
    """``stdout.buffer`` for watch_logs: log bytes decoded and escaped on their way."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def write(self, data: bytes) -> int:
        # The incremental decoder keeps a character split between two chunks whole.
        self._stream.write(terminal_safe(self._decoder.decode(data)))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()

    def end_of_chunk(self) -> None:
        """Text follows (a log header): show a half character left over as bytes."""
        rest = self._decoder.decode(b"", final=True)
        if rest:
            self._stream.write(terminal_safe(rest))


class TerminalSafeStream:
    """A terminal's stdout for koji's watchers: text and log bytes are escaped."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.buffer = _EscapingBuffer(stream)

    def write(self, text: str) -> int:
        self.buffer.end_of_chunk()
        self._stream.write(terminal_safe(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def for_terminal(stream: TextIO) -> TextIO | TerminalSafeStream:
    """``stream`` wrapped in a TerminalSafeStream when it is a terminal."""
    isatty = getattr(stream, "isatty", None)
    return TerminalSafeStream(stream) if isatty is not None and isatty() else stream


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
    """Human-readable summary: repositories, Koji build links, user warnings, the rest.

    Every text in it comes from the hub or the build, so it is made terminal-safe.
    """
    stream = stream or sys.stdout
    if not outcome.succeeded:
        if outcome.error:
            stream.write(terminal_safe(f"Task {outcome.task_id} failed: {outcome.error}") + "\n")
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
    stream.write("\n".join(terminal_safe(str(line)) for line in lines) + "\n")
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
    # koji's watchers print log bytes and task failure texts as they come.
    with contextlib.redirect_stdout(for_terminal(progress)):
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
