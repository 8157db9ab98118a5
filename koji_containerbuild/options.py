"""Task options of buildContainer and buildSourceContainer: one schema for every side.

The CLI, the hub plugin and the builder all call :func:`normalize_build_opts` or
:func:`normalize_source_opts`, so a request refused in one place is refused
everywhere with the same sentences. Clients such as fedpkg send every optional
key with ``None`` or ``False`` when unset; those are accepted and dropped so the
stored task options only say what was asked for.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from koji_containerbuild import nvr
from koji_containerbuild.optnames import option_name

#: Largest accepted ``userdata``, measured as compact JSON in UTF-8.
USERDATA_MAX_BYTES = 64 * 1024

_SCHEMA_URI = "http://json-schema.org/draft-07/schema#"

# Each property's "description" completes the sentence "Option 'x' must be ...".
_BOOLEAN = {"type": "boolean", "description": "true or false"}
_USERDATA = {
    "type": ["object", "string"],
    "description": "a JSON object (at most 64 KiB)",
}

BUILD_OPTIONS: dict[str, Any] = {
    "$schema": _SCHEMA_URI,
    "title": "buildContainer options",
    "type": "object",
    "additionalProperties": False,
    "required": ["git_branch"],
    "properties": {
        "scratch": _BOOLEAN,
        "isolated": _BOOLEAN,
        "flatpak": _BOOLEAN,
        "skip_build": {"type": "boolean", "description": "false or absent"},
        "git_branch": {
            "type": "string",
            "minLength": 1,
            "description": "the name of the git branch the source commit is on",
        },
        "arch_override": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ],
            "description": "a space-separated string of architectures, such as 'x86_64 aarch64'",
        },
        "release": {"type": "string", "description": "an RPM release string, such as '3.el9'"},
        "koji_parent_build": {
            "type": "string",
            "minLength": 1,
            "description": "the NVR of a Koji image build",
        },
        "yum_repourls": {
            "type": "array",
            "items": {"type": "string"},
            "description": "a list of http or https URLs of yum .repo files",
        },
        "compose_ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "description": "a list of ODCS compose ids (positive integers)",
        },
        "signing_intent": {
            "type": "string",
            "minLength": 1,
            "description": "the name of a signing intent configured in OSBS",
        },
        "dependency_replacements": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": "a list of strings like 'PKG_MANAGER:NAME:VERSION[:NEW_NAME]'",
        },
        "userdata": _USERDATA,
        "operator_csv_modifications_url": {
            "type": "string",
            "description": "an http or https URL",
        },
    },
}

SOURCE_OPTIONS: dict[str, Any] = {
    "$schema": _SCHEMA_URI,
    "title": "buildSourceContainer options",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "scratch": _BOOLEAN,
        "koji_build_id": {
            "type": "integer",
            "minimum": 1,
            "description": "the id of a Koji image build (a positive integer)",
        },
        "koji_build_nvr": {
            "type": "string",
            "minLength": 1,
            "description": "the NVR of a Koji image build",
        },
        "signing_intent": BUILD_OPTIONS["properties"]["signing_intent"],
        "userdata": _USERDATA,
    },
}

_FALSE_DROPPED = ("scratch", "isolated", "flatpak", "skip_build")
_EMPTY_DROPPED = ("arch_override", "yum_repourls", "compose_ids", "dependency_replacements")
_ARCH_RE = re.compile(r"^[A-Za-z0-9_]+$")
#: The releases OSBS accepts for isolated builds (osbs-client ISOLATED_RELEASE_FORMAT).
ISOLATED_RELEASE_RE = re.compile(r"\d+\.\d+(\..+)?")


class OptionsError(ValueError):
    """Options were refused; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


def normalize_build_opts(opts: Mapping | None) -> dict:
    """Validate buildContainer (and flatpak) options and return their normal form."""
    values, problems, bad = _validate(opts, BUILD_OPTIONS)
    if "skip_build" not in bad and values.get("skip_build") is True:
        problems.append(
            "Option 'skip_build' is no longer supported: the feature was removed; "
            "drop the option to build the image."
        )
    if "release" not in bad and "release" in values:
        release_problems = _release_problems(values["release"])
        problems.extend(release_problems)
        bad.update(["release"] if release_problems else [])
    if not bad.intersection(("release", "isolated")):
        problems.extend(_isolated_release_problems(values))
    for name in ("yum_repourls", "operator_csv_modifications_url"):
        if name not in bad and name in values:
            problems.extend(_url_problems(name, values[name]))
    if "arch_override" not in bad and "arch_override" in values:
        arches, arch_problems = _parse_arches(values["arch_override"])
        problems.extend(arch_problems)
        values["arch_override"] = " ".join(arches)
    _check_userdata(values, bad, problems)
    problems.extend(_build_combination_problems(values))
    if problems:
        raise OptionsError(problems)
    return _drop_unset(values)


def normalize_source_opts(opts: Mapping | None) -> dict:
    """Validate buildSourceContainer options and return their normal form."""
    values, problems, bad = _validate(opts, SOURCE_OPTIONS)
    _check_userdata(values, bad, problems)
    if not bad.intersection(("koji_build_id", "koji_build_nvr")) and not (
        values.get("koji_build_id") or values.get("koji_build_nvr")
    ):
        problems.append(
            "Options 'koji_build_id' and 'koji_build_nvr' are both missing: set at least "
            "one of them to the Koji image build whose sources should be packaged."
        )
    if problems:
        raise OptionsError(problems)
    return _drop_unset(values)


def _validate(opts: Mapping | None, schema: dict) -> tuple[dict, list[str], set[str]]:
    """Schema check; returns the set values, sentences and the names already refused."""
    if opts is None:
        opts = {}
    if not isinstance(opts, Mapping):
        raise OptionsError(
            [
                f"Options must be a mapping of option names to values, not "
                f"{_describe(opts)}: pass a dict such as {{'scratch': True}}."
            ]
        )
    values = {key: value for key, value in opts.items() if value is not None}
    validator = jsonschema.Draft7Validator(schema)
    problems: list[str] = []
    bad: set[str] = set()
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    for error in errors:
        for name, sentence in _sentences(error, values, schema):
            if name in bad:
                continue
            bad.add(name)
            problems.append(sentence)
    return values, problems, bad


def _sentences(error: jsonschema.ValidationError, values: dict, schema: dict):
    """Turn one jsonschema error into (option name, sentence) pairs."""
    properties = schema["properties"]
    if error.validator == "additionalProperties" and not error.absolute_path:
        for name in sorted(set(values) - set(properties), key=str):
            yield name, _unknown_sentence(name, properties)
        return
    if error.validator == "required" and not error.absolute_path:
        for name in error.validator_value:
            if name not in values:
                expect = properties[name]["description"]
                yield name, f"Option '{name}' is required: set it to {expect}."
        return
    if error.validator == "type" and not error.absolute_path:
        # Only reachable for a non-mapping, which _validate refuses earlier.
        yield "", f"Options must be a mapping, not {_describe(error.instance)}."
        return
    name = error.absolute_path[0]
    expect = properties[name]["description"]
    if len(error.absolute_path) > 1:
        position = error.absolute_path[1]
        got = f"item {position + 1} is {_describe(error.instance)}"
    else:
        got = f"got {_describe(error.instance)}"
    yield name, f"Option '{name}' must be {expect}; {got}."


def _unknown_sentence(name: Any, properties: Mapping) -> str:
    known = sorted(properties)
    guess = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean '{guess[0]}'?" if guess else "known options: " + ", ".join(known)
    return f"Option '{name}' is not known: remove it ({hint})."


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}" if value else "an empty string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "an empty list" if not value else "a list"
    return f"a value of type {type(value).__name__}"


def _release_problems(release: str) -> list[str]:
    """The release must fit a Koji NVR, a hub directory and the image tags (nvr.py)."""
    problem = nvr.value_problem(release)
    if problem is None:
        return []
    return [f"Option {option_name('release')} {nvr.show_value(release)} {problem}."]


def _isolated_release_problems(values: dict) -> list[str]:
    """OSBS builds an isolated release only as 'X.Y' or 'X.Y.Z...' (osbs-client)."""
    if values.get("isolated") is not True or values.get("scratch") is True:
        return []  # scratch with isolated is refused as a combination
    release = values.get("release")
    if release is None:
        return [
            f"Option {option_name('isolated')} needs option {option_name('release')}: "
            "give the release to rebuild, such as '1.1'."
        ]
    if not isinstance(release, str) or ISOLATED_RELEASE_RE.fullmatch(release):
        return []
    return [
        f"Option {option_name('release')} {nvr.show_value(release)} is not an isolated "
        "release: isolated builds need a release of the form 'X.Y' or 'X.Y.Z' such as '1.1'."
    ]


def _url_problems(name: str, value: Any) -> list[str]:
    urls = value if isinstance(value, list) else [value]
    problems = []
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unbalanced '[' of an IPv6 host
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"Option '{name}' has {url!r}, which is not an http or https URL: "
                "give a full URL such as 'https://example.com/file'."
            )
    return problems


def _parse_arches(value: str | list) -> tuple[list[str], list[str]]:
    """Split an arch list given as one string (spaces or commas) or as a list."""
    tokens = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    arches: list[str] = []
    problems: list[str] = []
    for token in tokens:
        token = token.strip()
        if not _ARCH_RE.match(token):
            problems.append(
                f"Option 'arch_override' has {token!r}, which is not an architecture "
                "name: use names such as 'x86_64' separated by spaces."
            )
        elif token not in arches:
            arches.append(token)
    return arches, problems


def _check_userdata(values: dict, bad: set[str], problems: list[str]) -> None:
    """userdata arrives as a dict over XML-RPC, or as JSON text from a command line."""
    if "userdata" in bad or "userdata" not in values:
        return
    userdata = values["userdata"]
    if isinstance(userdata, str):
        try:
            userdata = json.loads(userdata)
        except ValueError:
            problems.append(
                "Option 'userdata' is not valid JSON: give a JSON object such as "
                '\'{"key": "value"}\'.'
            )
            return
        if not isinstance(userdata, dict):
            problems.append(
                f"Option 'userdata' must be a JSON object; got {_describe(userdata)}: "
                'wrap the values in an object such as \'{"key": "value"}\'.'
            )
            return
    try:
        size = len(json.dumps(userdata, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError):
        problems.append(
            "Option 'userdata' holds values that are not JSON: use only strings, numbers, "
            "booleans, lists and objects with string keys."
        )
        return
    if size > USERDATA_MAX_BYTES:
        problems.append(
            f"Option 'userdata' is {size} bytes as JSON, more than the {USERDATA_MAX_BYTES} "
            "allowed: keep only the data the build needs."
        )
        return
    values["userdata"] = userdata


def _build_combination_problems(values: dict) -> list[str]:
    scratch = values.get("scratch") is True
    isolated = values.get("isolated") is True
    problems = []
    if scratch and isolated:
        problems.append(
            "Options 'scratch' and 'isolated' cannot be used together: choose one of them."
        )
    if values.get("arch_override") and not (scratch or isolated):
        problems.append(
            "Option 'arch_override' is only allowed for scratch or isolated builds: add "
            "'scratch' or 'isolated', or drop 'arch_override'."
        )
    if values.get("signing_intent") and values.get("compose_ids"):
        problems.append(
            "Options 'signing_intent' and 'compose_ids' cannot be used together: the "
            "composes already have a signing intent; drop one of them."
        )
    if "operator_csv_modifications_url" in values and not isolated:
        problems.append(
            "Option 'operator_csv_modifications_url' is only allowed for isolated builds: "
            "add 'isolated' or drop the URL."
        )
    return problems


def _drop_unset(values: dict) -> dict:
    normal = {}
    for key, value in values.items():
        if key in _FALSE_DROPPED and value is False:
            continue
        if key in _EMPTY_DROPPED and not value:
            continue
        normal[key] = list(value) if isinstance(value, (list, tuple)) else value
    return normal
