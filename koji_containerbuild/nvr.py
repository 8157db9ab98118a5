"""The one rule for an image's version and release, wherever they come from.

A version or release ends up in three places: the Koji NVR (kojihub refuses
'-' in either, koji.check_NVR), a directory on the hub
(``packages/<name>/<version>/<release>/``) and registry tags
(``<version>-<release>`` and the unique tag built from it; the registry
accepts ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``). Only values that fit all three
are accepted. The Dockerfile labels (builder) and the ``release`` option (CLI,
hub and builder, through :mod:`koji_containerbuild.options`) are checked with
this module before anything is reserved or built, so a bad value never
fails after a full build and push.

Standard library only: the CLI imports it through the option schema.
"""

from __future__ import annotations

import re

#: The registry refuses longer tags.
MAX_TAG_LENGTH = 128

#: What the local backend appends to version-release for its unique tag:
#: ``-<task id>-<YYYYmmddHHMMSS>``; Koji task ids are 32-bit integers.
UNIQUE_SUFFIX_LENGTH = len("-2147483647-20250101000000")

#: Longest ``<version>-<release>`` whose unique tag still fits in a tag.
MAX_VERSION_RELEASE_LENGTH = MAX_TAG_LENGTH - UNIQUE_SUFFIX_LENGTH

#: Longest version or release alone (the other needs one character and the '-').
MAX_VALUE_LENGTH = MAX_VERSION_RELEASE_LENGTH - 2

#: Characters both an NVR field and a tag can hold ('-' separates N, V and R).
_ALLOWED = re.compile(r"[A-Za-z0-9_.]*")


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a version or release, and the fix; None when it can.

    The text completes a sentence that names the value, such as
    "The version label '1/2' contains '/', which an image tag cannot hold; ...".
    """
    if not value:
        return "is empty; give a value such as '1.0' or '3.el9'"
    if len(value) > MAX_VALUE_LENGTH:
        return (
            f"is {len(value)} characters long, more than the {MAX_VALUE_LENGTH} that leave "
            f"room for the image tags (at most {MAX_TAG_LENGTH} characters); shorten it"
        )
    if "-" in value:
        return f"contains '-', which Koji does not allow in a version or release; {_FIX}"
    if value.startswith("."):
        return f"starts with '.', which an image tag cannot; {_FIX}"
    if ".." in value:
        return f"contains '..'; {_FIX}"
    if not _ALLOWED.fullmatch(value):
        bad = sorted({char for char in value if not _ALLOWED.fullmatch(char)})
        shown = ", ".join(_show(char) for char in bad[:5])
        return f"contains {shown}, which an image tag cannot hold; {_FIX}"
    return None


def version_release_problem(version: str, release: str) -> str | None:
    """Why ``<version>-<release>`` makes image tags too long, and the fix; None when it fits."""
    length = len(version) + 1 + len(release)
    if length > MAX_VERSION_RELEASE_LENGTH:
        return (
            f"is {length} characters long, more than the {MAX_VERSION_RELEASE_LENGTH} that "
            f"leave room for the unique tag (image tags hold at most {MAX_TAG_LENGTH} "
            "characters); shorten the version or the release"
        )
    return None


#: The fix every refusal of a character names.
_FIX = "use only ASCII letters, digits, '_' and '.', not starting with '.'"


def show_value(value: str) -> str:
    """The value quoted for a message: escaped, and shortened when long."""
    shown = value if len(value) <= 40 else value[:37] + "..."
    return ascii(shown)


def _show(char: str) -> str:
    if char.isspace() or not char.isprintable() or not char.isascii():
        return ascii(char)
    return f"'{char}'"
