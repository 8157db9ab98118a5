"""Text that leaves the builder through XML-RPC: made XML 1.0 safe in one place.

Task results and fault texts travel as XML 1.0, which cannot carry most
control characters at all: one ESC or BEL in a user warning, a label or an
error message makes ``host.closeTask``/``host.failTask`` (or any later
``getBuild``) fail with an XML parse error. Build logs, labels and file names
are untrusted, so everything the task reports passes through :func:`reported`
(the builder plugin's handlers) and the Content Generator metadata through
:func:`xml_safe`. Characters XML cannot carry are written out visibly
(``\\x1b``), so nobody mistakes the text for the original.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any, Callable, TypeVar

import koji

from koji_containerbuild import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME + ".xmlsafe")

#: Characters outside XML 1.0's Char production (TAB, LF and CR are allowed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

T = TypeVar("T")


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_safe_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry written as ``\\xNN``/``\\uNNNN``."""
    if _NOT_XML.search(text) is None:
        return text
    return _NOT_XML.sub(_escape, text)


def xml_safe(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, tuples, strings) that XML-RPC can always send."""
    if isinstance(value, str):
        return xml_safe_text(value)
    if isinstance(value, dict):
        return {xml_safe(key): xml_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(xml_safe(item) for item in value)
    return value


def reported(flow: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a task flow; its result and its fault text always reach the hub.

    A Koji error keeps its class (and fault code) with a safe message; any
    other exception whose traceback kojid could not send becomes a
    GenericError carrying the safe traceback (the original is logged).
    """
    try:
        result = flow(*args, **kwargs)
    except koji.GenericError as error:
        text = str(error)
        safe = xml_safe_text(text)
        if safe == text:
            raise
        raise type(error)(safe) from None
    except Exception:
        trace = traceback.format_exc()
        safe = xml_safe_text(trace)
        if safe == trace:
            raise
        logger.exception("The task failed with text XML cannot carry")
        raise koji.GenericError(safe) from None
    return xml_safe(result)
