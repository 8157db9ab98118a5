"""The JSON schemas of buildContainer and buildSourceContainer options.

Data only (the validation and its sentences are :mod:`.options`): each
property's ``description`` completes the sentence "Option 'x' must be ...",
and every string and list has its bound (:mod:`.bounds`).
"""

from __future__ import annotations

from typing import Any

import jsonschema

from koji_containerbuild.bounds import INT32_MAX, LIST_MAX, NAME_MAX, URL_MAX

_SCHEMA_URI = "http://json-schema.org/draft-07/schema#"

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
            "maxLength": NAME_MAX,
            "description": "the name of the git branch the source commit is on",
        },
        "arch_override": {
            "anyOf": [
                {"type": "string", "maxLength": NAME_MAX},
                {
                    "type": "array",
                    "maxItems": LIST_MAX,
                    "items": {"type": "string", "maxLength": NAME_MAX},
                },
            ],
            "description": "a space-separated string of architectures, such as 'x86_64 aarch64'",
        },
        "release": {
            "type": "string",
            "maxLength": NAME_MAX,
            "description": "an RPM release string, such as '3.el9'",
        },
        "koji_parent_build": {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX,
            "description": "the NVR of a Koji image build",
        },
        "yum_repourls": {
            "type": "array",
            "maxItems": LIST_MAX,
            "items": {"type": "string", "maxLength": URL_MAX},
            "description": "a list of http or https URLs of yum .repo files",
        },
        "compose_ids": {
            "type": "array",
            "maxItems": LIST_MAX,
            "items": {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
            "description": f"a list of ODCS compose ids (integers from 1 to {INT32_MAX})",
        },
        "signing_intent": {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX,
            "description": "the name of a signing intent configured in OSBS",
        },
        "dependency_replacements": {
            "type": "array",
            "maxItems": LIST_MAX,
            "items": {"type": "string", "minLength": 1, "maxLength": URL_MAX},
            "description": "a list of strings like 'PKG_MANAGER:NAME:VERSION[:NEW_NAME]'",
        },
        "userdata": _USERDATA,
        "operator_csv_modifications_url": {
            "type": "string",
            "maxLength": URL_MAX,
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
            "maximum": INT32_MAX,
            "description": f"the id of a Koji image build (an integer from 1 to {INT32_MAX})",
        },
        "koji_build_nvr": {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX,
            "description": "the NVR of a Koji image build",
        },
        "signing_intent": BUILD_OPTIONS["properties"]["signing_intent"],
        "userdata": _USERDATA,
    },
}


def _strict_integer(checker: Any, instance: Any) -> bool:
    # jsonschema counts 1.0 as an integer; Koji ids and XML-RPC ints are real ints.
    return isinstance(instance, int) and not isinstance(instance, bool)


Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)
