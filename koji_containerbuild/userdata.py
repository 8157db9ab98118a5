"""The ``userdata`` option: a small JSON object stored with the build.

It arrives as a struct over XML-RPC or as JSON text from a command line, so
both forms are read here, without recursion limits or non-JSON numbers
(NaN, Infinity) getting through to a traceback or into the task.
"""

from __future__ import annotations

import json
from typing import Any

from koji_containerbuild.bounds import USERDATA_MAX_DEPTH, nesting_depth_exceeds, quote
from koji_containerbuild.optnames import option_name

#: Largest accepted ``userdata``, measured as compact JSON in UTF-8.
USERDATA_MAX_BYTES = 64 * 1024
#: Largest ``userdata`` JSON text read at all (room for indentation).
USERDATA_MAX_TEXT = 4 * USERDATA_MAX_BYTES

#: How the sentences below name the option.
_USERDATA = option_name("userdata")

_TOO_DEEP = (
    f"Option {_USERDATA} is nested more than {USERDATA_MAX_DEPTH} levels deep: flatten "
    "the objects and lists in it."
)
_NOT_FINITE = (
    f"Option {_USERDATA} holds NaN or Infinity, which JSON cannot carry: use a number, "
    "a string or null instead."
)


class _NonFiniteNumber(ValueError):
    """NaN or Infinity: Python's json reads them, JSON itself has no such numbers."""


def _refuse_constant(name: str) -> Any:
    raise _NonFiniteNumber(name)


def read_userdata(userdata: Any) -> tuple[dict | None, str | None]:
    """(the userdata object, None), or (None, the sentence refusing it)."""
    if isinstance(userdata, str):
        if len(userdata) > USERDATA_MAX_TEXT:
            return None, (
                f"Option {_USERDATA} is {len(userdata)} characters of JSON text, more than "
                f"the {USERDATA_MAX_TEXT} read: keep only the data the build needs "
                f"({USERDATA_MAX_BYTES} bytes as compact JSON at most)."
            )
        try:
            userdata = json.loads(userdata, parse_constant=_refuse_constant)
        except _NonFiniteNumber:
            return None, _NOT_FINITE
        except RecursionError:
            return None, _TOO_DEEP
        except ValueError as error:
            return None, (
                f"Option {_USERDATA} is not valid JSON ({error}): give a JSON object such as "
                '\'{"key": "value"}\'.'
            )
        if not isinstance(userdata, dict):
            return None, (
                f"Option {_USERDATA} must be a JSON object; got {_kind(userdata)}: "
                'wrap the values in an object such as \'{"key": "value"}\'.'
            )
    if nesting_depth_exceeds(userdata, USERDATA_MAX_DEPTH):
        return None, _TOO_DEEP
    try:
        text = json.dumps(userdata, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return None, _NOT_FINITE
    except TypeError:
        return None, (
            f"Option {_USERDATA} holds values that are not JSON: use only strings, numbers, "
            "booleans, lists and objects with string keys."
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > USERDATA_MAX_BYTES:
        return None, (
            f"Option {_USERDATA} is {size} bytes as JSON, more than the {USERDATA_MAX_BYTES} "
            "allowed: keep only the data the build needs."
        )
    return userdata, None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, str):
        return f"the string {quote(value, 40)}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    return f"the number {quote(value)}"
