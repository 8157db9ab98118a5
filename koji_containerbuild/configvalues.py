"""The values of the plugins' config files: converters and the error they end in.

Below :mod:`koji_containerbuild.config` (the builder and hub files) and
:mod:`koji_containerbuild.promoteconfig` (promotion rules and signers) because
both read values the same way: a converter turns the raw text into a value or
raises :class:`Invalid` saying what would have been accepted, and the reader
turns that into ONE :class:`ConfigError` sentence naming the file and key.
"""

from __future__ import annotations

import configparser
import math
from typing import Any, Callable


class ConfigError(Exception):
    """A plugin config file cannot be used; the message says where and what to write."""


#: Turns the raw text of a key into its value, or raises :class:`Invalid`.
Converter = Callable[[str], Any]


class Invalid(Exception):
    """A raw value a converter refuses; ``accepted`` says what it would take."""

    def __init__(self, accepted: str):
        super().__init__(accepted)
        self.accepted = accepted


def text(raw: str) -> str:
    if not raw:
        raise Invalid("a non-empty value")
    return raw


def optional_text(raw: str) -> str | None:
    return raw or None


def boolean(raw: str) -> bool:
    states = configparser.ConfigParser.BOOLEAN_STATES
    if raw.lower() not in states:
        raise Invalid("true, false, yes, no, on, off, 1 or 0")
    return states[raw.lower()]


def number(minimum: float, strict: bool) -> Converter:
    accepted = f"a number {'greater than' if strict else 'at least'} {minimum:g}"

    def convert(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise Invalid(accepted) from None
        if math.isnan(value) or value < minimum or (strict and value == minimum):
            raise Invalid(accepted)
        return value

    return convert


def choice(*choices: str) -> Converter:
    def convert(raw: str) -> str:
        if raw not in choices:
            raise Invalid("one of " + ", ".join(choices))
        return raw

    return convert
