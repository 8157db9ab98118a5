"""What a build log line may carry besides text: user warnings and a metadata path.

Log lines are untrusted input. These markers count only on lines whose origin
may carry them (:class:`Marks`, declared by the backend per log source: a
build's own RUN output never can) and only in atomic-reactor's exact log
format. User warnings are parsed defensively, and a ``_metadata_`` path is
accepted only when it names a regular file inside the hub's work directory;
anything else is an ordinary log line.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

#: atomic-reactor's log format: ``<date> <time> - <logger> - <level> - <message>``.
_REACTOR_PREFIX = r"^\S+ \S+ - [\w.-]+ - "
#: atomic-reactor logs user warnings at level USER_WARNING with a JSON message.
USER_WARNING_RE = re.compile(_REACTOR_PREFIX + r"USER_WARNING - (\{.*\})$")
#: atomic-reactor logs ``platform:_metadata_ <path>`` at INFO for scratch
#: builds' metadata.json (its koji_import plugin).
METADATA_RE = re.compile(_REACTOR_PREFIX + r"INFO - platform:_metadata_ (\S+)$")
#: Substrings every line matching USER_WARNING_RE / METADATA_RE contains
#: (long needles: the scan of a whole batch of lines skips faster).
USER_WARNING_MARK = " - USER_WARNING - {"
METADATA_MARK = "platform:_metadata_ "


@dataclass(frozen=True)
class Marks:
    """Which build-system markers the lines of one log source may carry."""

    user_warnings: bool = False
    metadata: bool = False


#: Lines the build itself controls (RUN output) or whose origin is unknown.
NO_MARKS = Marks()


def user_warning(text: str) -> str | None:
    """The message of a USER_WARNING line, or None if the line is not a usable one."""
    match = USER_WARNING_RE.match(text)
    if not match:
        return None
    try:
        payload = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    return message.replace("\n", " ")


def metadata_path(text: str) -> str | None:
    """The path of a ``platform:_metadata_ PATH`` line as written (unchecked), or None."""
    match = METADATA_RE.match(text)
    return match.group(1) if match else None


def safe_work_path(work_dir: str, relpath: str) -> str | None:
    """The real path of ``relpath`` if it is a regular file inside ``work_dir``, else None."""
    if not relpath or relpath.startswith("/") or "\0" in relpath:
        return None
    if ".." in relpath.split("/"):
        return None
    root = os.path.realpath(work_dir)
    candidate = os.path.realpath(os.path.join(root, relpath))
    if os.path.commonpath([root, candidate]) != root or candidate == root:
        return None
    if not os.path.isfile(candidate):
        return None
    return candidate


def encode(text: str) -> bytes:
    """UTF-8 bytes of a line; lone surrogates are kept as the bytes they stood for."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")
