"""Task options of buildContainer and buildSourceContainer: one schema for every side.

The CLI, the hub plugin and the builder all call :func:`normalize_build_opts` or
:func:`normalize_source_opts`, so a request refused in one place is refused
everywhere with the same sentences. Clients such as fedpkg send every optional
key with ``None`` or ``False`` when unset; those are accepted and dropped so the
stored task options only say what was asked for.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from koji_containerbuild import nvr
from koji_containerbuild.bounds import NAME_MAX, OPTION_KEYS_MAX, quote
from koji_containerbuild.optionschema import BUILD_OPTIONS, SOURCE_OPTIONS, Validator
from koji_containerbuild.optnames import FLAGS, option_name
from koji_containerbuild.userdata import USERDATA_MAX_BYTES, read_userdata

__all__ = [
    "BUILD_OPTIONS",
    "SOURCE_OPTIONS",
    "USERDATA_MAX_BYTES",
    "OptionsError",
    "normalize_build_opts",
    "normalize_source_opts",
]

_FALSE_DROPPED = ("scratch", "isolated", "flatpak", "skip_build")
_EMPTY_DROPPED = ("arch_override", "yum_repourls", "compose_ids", "dependency_replacements")
_ARCH_RE = re.compile(r"^[A-Za-z0-9_]+$")
#: The releases OSBS accepts for isolated builds (osbs-client ISOLATED_RELEASE_FORMAT).
ISOLATED_RELEASE_RE = re.compile(r"\d+\.\d+(\..+)?")
# Cachito package managers are lower-case words such as gomod, npm, pip, yarn.
_PKG_MANAGER_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


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
            f"Option {option_name('skip_build')} is no longer supported: the feature was removed; "
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
    if "dependency_replacements" not in bad and "dependency_replacements" in values:
        problems.extend(_replacement_problems(values["dependency_replacements"]))
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
    if len(opts) > OPTION_KEYS_MAX:
        raise OptionsError(
            [
                f"Options hold {len(opts)} keys, more than the {OPTION_KEYS_MAX} allowed: "
                "send only the options of this call ("
                + ", ".join(sorted(schema["properties"]))
                + ")."
            ]
        )
    values = {key: value for key, value in opts.items() if value is not None}
    validator = Validator(schema)
    problems, bad = _oversize_problems(values, schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    for error in errors:
        for name, sentence in _sentences(error, values, schema):
            if name in bad:
                continue
            bad.add(name)
            problems.append(sentence)
    return values, problems, bad


def _oversize_problems(values: dict, schema: dict) -> tuple[list[str], set[str]]:
    """Sizes and text first: a string or list past its bound, or a string with control
    characters, is refused (and dropped) before the schema walks through it; the
    sentence never echoes the value whole."""
    problems: list[str] = []
    bad: set[str] = set()
    for name in list(values):
        prop = schema["properties"].get(name) if isinstance(name, str) else None
        if prop is None:
            continue
        problem = _size_problem(name, values[name], prop) or _text_problem(name, values[name])
        if problem:
            problems.append(problem)
            bad.add(name)
            del values[name]
    return problems, bad


def _size_problem(name: str, value: Any, prop: dict) -> str | None:
    for branch in prop.get("anyOf", [prop]):
        if isinstance(value, str) and branch.get("type") == "string":
            limit, size = branch.get("maxLength"), f"is {len(value)} characters long"
        elif isinstance(value, list) and branch.get("type") == "array":
            limit, size = branch.get("maxItems"), f"has {len(value)} items"
        else:
            continue
        if limit is not None and len(value) > limit:
            return (
                f"Option {_named(name)} {size}, more than the {limit} allowed: give "
                f"{prop['description']}, within that bound."
            )
        return None
    return None


def _text_problem(name: str, value: Any) -> str | None:
    """Option strings are names and URLs: printable (userdata JSON text may have newlines)."""
    if name == "userdata":
        return None
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str) and not text.isprintable():
            return (
                f"Option {_named(name)} has {quote(text)}, which contains control or "
                "non-printable "
                "characters (such as a newline or bytes that are not UTF-8): remove them."
            )
    return None


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
                yield name, f"Option {_named(name)} is required: set it to {expect}."
        return
    if error.validator == "type" and not error.absolute_path:
        # Only reachable for a non-mapping, which _validate refuses earlier.
        yield "", f"Options must be a mapping, not {_describe(error.instance)}."
        return
    name = error.absolute_path[0]
    expect = properties[name]["description"]
    if error.validator == "maxLength" and len(error.absolute_path) > 1:
        position = error.absolute_path[1]
        yield (
            name,
            (
                f"Option {_named(name)} item {position + 1} is {len(error.instance)} characters "
                "long, "
                f"more than the {error.validator_value} allowed: shorten it."
            ),
        )
        return
    if len(error.absolute_path) > 1:
        position = error.absolute_path[1]
        got = f"item {position + 1} is {_describe(error.instance)}"
    else:
        got = f"got {_describe(error.instance)}"
    yield name, f"Option {_named(name)} must be {expect}; {got}."


def _unknown_sentence(name: Any, properties: Mapping) -> str:
    known = sorted(properties)
    guess = difflib.get_close_matches(str(name)[:NAME_MAX], known, n=1)
    hint = f"did you mean '{guess[0]}'?" if guess else "known options: " + ", ".join(known)
    return f"Option {quote(name)} is not known: remove it ({hint})."


def _named(key: str) -> str:
    """An option as messages name it: key and client flags when it has flags."""
    return option_name(key) if key in FLAGS else quote(key)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {quote(value)}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {quote(value, 40)}" if value else "an empty string"
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
                f"Option {_named(name)} has {quote(url)}, which is not an http or https URL: "
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
                f"Option {option_name('arch_override')} has {quote(token)}, which is not an "
                "architecture "
                "name: use names such as 'x86_64' separated by spaces."
            )
        elif token not in arches:
            arches.append(token)
    return arches, problems


def _replacement_problems(replacements: list[str]) -> list[str]:
    """Each item is PKG_MANAGER:NAME:VERSION[:NEW_NAME], as atomic-reactor splits it."""
    for item in replacements:
        parts = item.split(":", 3)
        well_formed = (
            len(parts) >= 3
            and all(parts)
            and _PKG_MANAGER_RE.match(parts[0]) is not None
            and item.isprintable()
            and not any(char.isspace() for char in item)
        )
        if not well_formed:
            return [
                f"Option {option_name('dependency_replacements')} has {quote(item)}, which is not "
                "'PKG_MANAGER:NAME:VERSION[:NEW_NAME]': give the package manager, the "
                "dependency and the version, such as 'gomod:example.com/lib:v1.2.3'."
            ]
    return []


def _check_userdata(values: dict, bad: set[str], problems: list[str]) -> None:
    if "userdata" in bad or "userdata" not in values:
        return
    userdata, problem = read_userdata(values["userdata"])
    if problem:
        problems.append(problem)
    else:
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
            f"Option {option_name('arch_override')} is only allowed for scratch or isolated "
            "builds: add "
            "'scratch' or 'isolated', or drop 'arch_override'."
        )
    if values.get("signing_intent") and values.get("compose_ids"):
        problems.append(
            "Options 'signing_intent' and 'compose_ids' cannot be used together: the "
            "composes already have a signing intent; drop one of them."
        )
    if "operator_csv_modifications_url" in values and not isolated:
        problems.append(
            f"Option {option_name('operator_csv_modifications_url')} is only allowed for "
            "isolated builds: "
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
