"""Promotion and signing in the config files: [promote], [promote:TAG], [signer:NAME].

Apart from :mod:`koji_containerbuild.config` (which reads the builder and hub
files) because these rules belong to one feature, promotion on tag, and are
checked twice: when a config file is read and again when a promoteContainer
task carries a rule (:func:`check_promotion_rule`), with the same converters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from koji_containerbuild.configvalues import (
    ConfigError,
    Converter,
    Invalid,
    boolean,
    choice,
    number,
    optional_text,
    text,
)

PROMOTE_METHOD = "promoteContainer"
SIGNER_TYPES = ("simple",)


@dataclass
class PromoteSettings:
    """How the builder reaches the registries when it promotes (``[promote]``)."""

    #: registries.d directory naming each production registry's signature lookaside.
    registries_d: str = "/etc/containers/registries.d"
    #: policy.json a promoted image's signature is checked with, as clients check it.
    policy: str = "/etc/containers/policy.json"
    tls_verify: bool = True
    #: Seconds one skopeo call may take.
    skopeo_timeout: float = 600.0


@dataclass(frozen=True)
class SignerSettings:
    """One signing identity the builder holds (``[signer:NAME]``)."""

    name: str
    fingerprint: str
    type: str = "simple"
    #: GNUPGHOME of the key; None: the builder's default keyring.
    gpg_home: str | None = None


@dataclass(frozen=True)
class PromotionRule:
    """Tagging an image build into ``tag`` promotes it to ``registry`` and signs it."""

    tag: str
    registry: str
    signing_identity: str
    repository_prefix: str = ""
    floating_tags: tuple = ()
    channel: str = "container"

    def as_task_arg(self) -> dict:
        """The rule as the promoteContainer task carries it (XML-RPC marshallable)."""
        return {
            "tag": self.tag,
            "registry": self.registry,
            "signing_identity": self.signing_identity,
            "repository_prefix": self.repository_prefix,
            "floating_tags": list(self.floating_tags),
        }

    def production_repository(self, candidate_path: str) -> str:
        """``registry/prefix/path`` for a candidate repository path (no registry part)."""
        parts = [self.registry, self.repository_prefix, candidate_path]
        return "/".join(part for part in parts if part)


_REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_REPOSITORY_PATH = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")


def _registry(raw: str) -> str:
    if not _REGISTRY.match(raw):
        raise Invalid("a registry host name with an optional :port, e.g. registry.example.com")
    return raw


def _repository_prefix(raw: str) -> str:
    prefix = raw.strip("/")
    if prefix and not _REPOSITORY_PATH.match(prefix):
        raise Invalid("empty or lower-case repository path components joined by /")
    return prefix


def _image_tags(raw: str) -> tuple:
    tags = tuple(t for t in re.split(r"[,\s]+", raw) if t)
    if any(not _IMAGE_TAG.match(t) for t in tags):
        raise Invalid(
            "image tags (letters, digits, _ . -, at most 128 characters) separated "
            "by commas or spaces"
        )
    return tags


def _fingerprint(raw: str) -> str:
    if not _FINGERPRINT.match(raw):
        raise Invalid("the key's full 40-digit hexadecimal fingerprint")
    return raw.upper()


#: Keys of sections named ``PREFIX:NAME``, and the keys each must have.
PROMOTE_RULE_KEYS: dict[str, Converter] = {
    "registry": _registry,
    "repository_prefix": _repository_prefix,
    "floating_tags": _image_tags,
    "signing_identity": text,
    "channel": text,
}
SIGNER_KEYS: dict[str, Converter] = {
    "type": choice(*SIGNER_TYPES),
    "fingerprint": _fingerprint,
    "gpg_home": optional_text,
}
REQUIRED_KEYS = {
    "promote:": ("registry", "signing_identity"),
    "signer:": ("fingerprint",),
}

#: The builder's ``[promote]`` section.
PROMOTE_KEYS: dict[str, Converter] = {
    "registries_d": text,
    "policy": text,
    "tls_verify": boolean,
    "skopeo_timeout": number(0, strict=True),
}


def check_promotion_rule(data: dict) -> PromotionRule:
    """A rule as a promoteContainer task carries it, checked as the config file's rules are."""
    values: dict[str, Any] = {}
    for key in PROMOTE_RULE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key == "floating_tags" and isinstance(value, list):
            raw = " ".join(v if isinstance(v, str) else "-" for v in value)
        else:
            raw = value
        if not isinstance(raw, str):
            raise ConfigError(f"The promotion rule's {key} must be text, not {value!r}.")
        try:
            values[key] = PROMOTE_RULE_KEYS[key](raw.strip())
        except Invalid as invalid:
            raise ConfigError(
                f"The promotion rule's {key} = {raw!r} is not valid: "
                f"accepted values are {invalid.accepted}."
            ) from None
    tag = data.get("tag")
    missing = [k for k in REQUIRED_KEYS["promote:"] if k not in values]
    if not isinstance(tag, str) or not tag or missing:
        raise ConfigError(
            "The promotion rule needs tag, " + ", ".join(REQUIRED_KEYS["promote:"]) + "."
        )
    return PromotionRule(tag=tag, **values)
