"""Bounds of everything a user can send, and how refusals quote what was sent.

One home for the size, depth and range limits the CLI, the hub and the builder
all apply (the option schema in :mod:`koji_containerbuild.options` uses them,
``hub.py`` and ``cli/commands.py`` call :func:`priority_problem` and
:func:`name_problem`). The README's option table documents the same numbers.
A refusal never echoes a huge or deeply nested value back: :func:`quote`
shows at most :data:`QUOTE_MAX` characters of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import koji

#: Koji stores ids and the task priority as 32-bit PostgreSQL integers.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

#: Names: targets, channels, git branches, signing intents, NVRs, arches
#: (kojihub's MaxNameLengthInternal default is 256 too).
NAME_MAX = 256
#: URLs: the SCM URL, yum .repo URLs, the operator CSV modifications URL.
URL_MAX = 4096
#: Items in one list option (repo URLs, compose ids, dependency replacements, arches).
LIST_MAX = 100
#: Keys in one options struct (each schema knows fewer than 20).
OPTION_KEYS_MAX = 50
#: Nesting levels of userdata (objects and lists inside each other).
USERDATA_MAX_DEPTH = 32
#: Characters of a refused value that a sentence quotes.
QUOTE_MAX = 60

#: The priority a caller gives is added to koji.PRIO_DEFAULT and stored as int32.
PRIORITY_MIN = INT32_MIN - koji.PRIO_DEFAULT
PRIORITY_MAX = INT32_MAX - koji.PRIO_DEFAULT


def quote(value: Any, limit: int = QUOTE_MAX) -> str:
    """A short, printable rendering of any value sent by a user, for a sentence.

    Strings are shown with repr() (control characters escaped) and cut after
    ``limit`` characters; containers are described, never rendered, so a deep or
    huge value costs nothing.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, (bool, float)) or value is None:
        return repr(value)
    if isinstance(value, int):
        # str() of a huge int is slow (and refused past 4300 digits): describe it instead.
        bits = value.bit_length()
        return str(value) if bits < 200 else f"an integer of {bits} bits"
    if isinstance(value, Mapping):
        return f"a struct of {_count(len(value), 'key')}"
    if isinstance(value, (list, tuple)):
        return f"a list of {_count(len(value), 'item')}"
    return f"a value of type {type(value).__name__}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and mappings inside ``value`` go deeper than ``limit`` levels.

    Iterative, so a value nested far past the interpreter's recursion limit is
    measured without a RecursionError.
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def priority_problem(priority: Any) -> str | None:
    """The sentence refusing a task priority, or None when it may be sent."""
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, int):
        return (
            "The priority must be an integer such as 5 (added to the default priority; "
            f"higher runs later), not {quote(priority)}."
        )
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        return (
            f"The priority {quote(priority)} is out of range: Koji stores task priorities "
            f"as 32-bit integers, so give a value from {PRIORITY_MIN} to {PRIORITY_MAX} "
            "(such as 5)."
        )
    return None


def name_problem(what: str, kind: str, value: Any, fix: str) -> str | None:
    """The sentence refusing the name of a Koji ``kind`` (build target, channel), or None."""
    if not isinstance(value, str) or not value:
        return f"The {what} must be the name of a Koji {kind}, not {quote(value)}: {fix}."
    if len(value) > NAME_MAX:
        return (
            f"The {what} {quote(value)} is longer than the {NAME_MAX} characters a Koji "
            f"{kind} name may have: {fix}."
        )
    if not value.isprintable():
        return f"The {what} {quote(value)} contains non-printable characters: {fix}."
    return None
