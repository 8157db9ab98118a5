"""The plugins' own config files (INI) and their defaults.

kojid refuses unknown kojid.conf options and hub.conf is the hub's own, so each
plugin reads a file of its own. A missing file means the defaults; a value that
cannot be used is a ConfigError naming the file, section, key and what is accepted,
so a typo never silently changes behaviour.
"""

from __future__ import annotations

import configparser
import contextvars
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import koji

BUILDER_CONFIG_ENV = "KOJI_CONTAINERBUILD_BUILDER_CONFIG"
BUILDER_CONFIG_PATH = "/etc/kojid/plugins/builder_containerbuild.conf"
HUB_CONFIG_ENV = "KOJI_CONTAINERBUILD_HUB_CONFIG"
HUB_CONFIG_PATH = "/etc/koji-hub/plugins/hub_containerbuild.conf"
#: The hub config of the hub serving the current call, ahead of the environment:
#: set per call by a process that runs more than one hub (the sandbox's tests),
#: where one process-wide variable would hand every hub the last one's rules.
HUB_CONFIG_OF_CALL: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hub_config_of_call", default=None
)

BACKENDS = ("osbs", "local")
BUILD_METHODS = ("buildContainer", "buildSourceContainer")
PROMOTE_METHOD = "promoteContainer"
SIGNER_TYPES = ("simple",)


class ConfigError(Exception):
    """A plugin config file cannot be used; the message says where and what to write."""


@dataclass
class OsbsSettings:
    conf_file: str = "/etc/osbs.conf"
    binary_section: str = "default_binary"
    source_section: str = "default_source"
    remove_finished_builds: bool = False
    #: How long transient OSBS faults (network errors, HTTP 5xx) are retried.
    retry_seconds: float = 300.0


@dataclass
class LocalSettings:
    registry: str = "127.0.0.1:5000"
    registry_tls_verify: bool = False
    state_dir: str = "/var/lib/koji-containerbuild/local"
    #: buildah --root; None keeps buildah's default.
    storage_root: str | None = None
    #: buildah --runroot; None keeps buildah's default.
    storage_runroot: str | None = None
    storage_driver: str = "vfs"
    isolation: str = "chroot"


def machine_arch() -> str:
    """This machine's arch in Koji's words (x86_64, aarch64, ...)."""
    return koji.canonArch(os.uname().machine)


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


@dataclass
class BuilderConfig:
    backend: str = "osbs"
    log_flush_interval: float = 0.2
    cg_name: str = "koji-containerbuild"
    #: The arch this builder builds for: the arch it has in Koji (koji add-host NAME ARCH).
    #: Another than the machine's builds through qemu (binfmt_misc).
    arch: str = field(default_factory=machine_arch)
    osbs: OsbsSettings = field(default_factory=OsbsSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    promote: PromoteSettings = field(default_factory=PromoteSettings)
    signers: dict = field(default_factory=dict)


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


def _default_channels() -> dict:
    return {method: "container" for method in BUILD_METHODS}


@dataclass
class HubConfig:
    #: Permission needed to submit builds; None: any logged-in user.
    build_permission: str | None = None
    #: Permission allowing another channel than the default; None: admins only.
    channel_permission: str | None = None
    channels: dict = field(default_factory=_default_channels)
    #: Promotion rules by tag name (``[promote:TAG]`` sections).
    promotions: dict = field(default_factory=dict)


# A converter turns the raw text into a value, or raises _Invalid saying what
# would have been accepted.
_Converter = Callable[[str], Any]


class _Invalid(Exception):
    def __init__(self, accepted: str):
        super().__init__(accepted)
        self.accepted = accepted


def _text(raw: str) -> str:
    if not raw:
        raise _Invalid("a non-empty value")
    return raw


def _optional_text(raw: str) -> str | None:
    return raw or None


def _boolean(raw: str) -> bool:
    states = configparser.ConfigParser.BOOLEAN_STATES
    if raw.lower() not in states:
        raise _Invalid("true, false, yes, no, on, off, 1 or 0")
    return states[raw.lower()]


def _number(minimum: float, strict: bool) -> _Converter:
    accepted = f"a number {'greater than' if strict else 'at least'} {minimum:g}"

    def convert(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise _Invalid(accepted) from None
        if math.isnan(value) or value < minimum or (strict and value == minimum):
            raise _Invalid(accepted)
        return value

    return convert


#: OCI and Debian names of arches, which Koji spells otherwise (x86_64, aarch64, ...).
_NOT_KOJI_ARCHES = ("amd64", "arm64", "armhf", "ppc64el", "386", "noarch", "src")


def _arch(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]+", raw) or raw in _NOT_KOJI_ARCHES:
        raise _Invalid("a Koji arch name such as x86_64 or aarch64 (not amd64 or arm64)")
    return raw


def _choice(*choices: str) -> _Converter:
    def convert(raw: str) -> str:
        if raw not in choices:
            raise _Invalid("one of " + ", ".join(choices))
        return raw

    return convert


_REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_REPOSITORY_PATH = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")


def _registry(raw: str) -> str:
    if not _REGISTRY.match(raw):
        raise _Invalid("a registry host name with an optional :port, e.g. registry.example.com")
    return raw


def _repository_prefix(raw: str) -> str:
    prefix = raw.strip("/")
    if prefix and not _REPOSITORY_PATH.match(prefix):
        raise _Invalid("empty or lower-case repository path components joined by /")
    return prefix


def _image_tags(raw: str) -> tuple:
    tags = tuple(t for t in re.split(r"[,\s]+", raw) if t)
    if any(not _IMAGE_TAG.match(t) for t in tags):
        raise _Invalid(
            "image tags (letters, digits, _ . -, at most 128 characters) separated "
            "by commas or spaces"
        )
    return tags


def _fingerprint(raw: str) -> str:
    if not _FINGERPRINT.match(raw):
        raise _Invalid("the key's full 40-digit hexadecimal fingerprint")
    return raw.upper()


#: Keys of sections named ``PREFIX:NAME``, and the keys each must have.
_PROMOTE_RULE_KEYS: dict[str, _Converter] = {
    "registry": _registry,
    "repository_prefix": _repository_prefix,
    "floating_tags": _image_tags,
    "signing_identity": _text,
    "channel": _text,
}
_SIGNER_KEYS: dict[str, _Converter] = {
    "type": _choice(*SIGNER_TYPES),
    "fingerprint": _fingerprint,
    "gpg_home": _optional_text,
}
_REQUIRED = {
    "promote:": ("registry", "signing_identity"),
    "signer:": ("fingerprint",),
}

_BUILDER_KEYS: dict[str, dict[str, _Converter]] = {
    "builder": {
        "backend": _choice(*BACKENDS),
        "log_flush_interval": _number(0, strict=True),
        "cg_name": _text,
        "arch": _arch,
    },
    "osbs": {
        "conf_file": _text,
        "binary_section": _text,
        "source_section": _text,
        "remove_finished_builds": _boolean,
        "retry_seconds": _number(0, strict=False),
    },
    "local": {
        "registry": _text,
        "registry_tls_verify": _boolean,
        "state_dir": _text,
        "storage_root": _optional_text,
        "storage_runroot": _optional_text,
        "storage_driver": _choice("vfs", "overlay"),
        "isolation": _choice("chroot", "oci", "rootless"),
    },
    "promote": {
        "registries_d": _text,
        "policy": _text,
        "tls_verify": _boolean,
        "skopeo_timeout": _number(0, strict=True),
    },
    "signer:": _SIGNER_KEYS,
}

_HUB_KEYS: dict[str, dict[str, _Converter]] = {
    "hub": {"build_permission": _optional_text, "channel_permission": _optional_text},
    # configparser lowercases keys; the method names are matched case-insensitively.
    "channels": {method.lower(): _text for method in BUILD_METHODS},
    "promote:": _PROMOTE_RULE_KEYS,
}


def load_builder_config(path: str | None = None) -> BuilderConfig:
    """Read the builder plugin's config; a missing file gives the defaults."""
    path = path or os.environ.get(BUILDER_CONFIG_ENV) or BUILDER_CONFIG_PATH
    values = _read(path, _BUILDER_KEYS)
    config = BuilderConfig(**values.get("builder", {}))
    config.osbs = OsbsSettings(**values.get("osbs", {}))
    config.local = LocalSettings(**values.get("local", {}))
    config.promote = PromoteSettings(**values.get("promote", {}))
    for section, keys in values.items():
        if section.startswith("signer:"):
            name = section[len("signer:") :]
            config.signers[name] = SignerSettings(name=name, **keys)
    return config


def load_hub_config(path: str | None = None) -> HubConfig:
    """Read the hub plugin's config; a missing file gives the defaults."""
    path = path or HUB_CONFIG_OF_CALL.get() or os.environ.get(HUB_CONFIG_ENV) or HUB_CONFIG_PATH
    values = _read(path, _HUB_KEYS)
    config = HubConfig(**values.get("hub", {}))
    by_key = {method.lower(): method for method in BUILD_METHODS}
    for key, channel in values.get("channels", {}).items():
        config.channels[by_key[key]] = channel
    for section, keys in values.items():
        if section.startswith("promote:"):
            tag = section[len("promote:") :]
            config.promotions[tag] = PromotionRule(tag=tag, **keys)
    return config


def _pattern_of(section: str, known: dict) -> str | None:
    """The ``PREFIX:`` entry of ``known`` a ``[PREFIX:NAME]`` section belongs to."""
    prefix, colon, name = section.partition(":")
    if colon and name.strip() and prefix + ":" in known:
        return prefix + ":"
    return None


def _read(path: str, known: dict[str, dict[str, _Converter]]) -> dict[str, dict[str, Any]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror}).") from None
    except (configparser.Error, UnicodeDecodeError) as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(
            f"{path}: is not a valid INI file ({first_line}): write it as [section] "
            "headers followed by key = value lines."
        ) from None
    values: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        pattern = section if section in known and not section.endswith(":") else None
        pattern = pattern or _pattern_of(section, known)
        if pattern is None:
            raise ConfigError(
                f"{path}: section [{section}] is not known: accepted sections are "
                + ", ".join(
                    f"[{name}NAME]" if name.endswith(":") else f"[{name}]" for name in known
                )
                + "."
            )
        values.setdefault(section, {})
        for key, raw in parser.items(section):
            converters = known[pattern]
            if key not in converters:
                raise ConfigError(
                    f"{path}: [{section}] {key} is not a known key: accepted keys are "
                    + ", ".join(_key_names(section, converters))
                    + "."
                )
            try:
                values.setdefault(section, {})[key] = converters[key](raw.strip())
            except _Invalid as invalid:
                raise ConfigError(
                    f"{path}: [{section}] {key} = {raw.strip()!r} is not valid: "
                    f"accepted values are {invalid.accepted}."
                ) from None
        for key in _REQUIRED.get(pattern, ()):
            if key not in values[section]:
                raise ConfigError(f"{path}: [{section}] needs {key} = ...: it has no default.")
    return values


def _key_names(section: str, converters: dict) -> list[str]:
    if section == "channels":
        return list(BUILD_METHODS)
    return list(converters)


def check_promotion_rule(data: dict) -> PromotionRule:
    """A rule as a promoteContainer task carries it, checked as the config file's rules are."""
    values: dict[str, Any] = {}
    for key in _PROMOTE_RULE_KEYS:
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
            values[key] = _PROMOTE_RULE_KEYS[key](raw.strip())
        except _Invalid as invalid:
            raise ConfigError(
                f"The promotion rule's {key} = {raw!r} is not valid: "
                f"accepted values are {invalid.accepted}."
            ) from None
    tag = data.get("tag")
    missing = [k for k in _REQUIRED["promote:"] if k not in values]
    if not isinstance(tag, str) or not tag or missing:
        raise ConfigError(
            "The promotion rule needs tag, " + ", ".join(_REQUIRED["promote:"]) + "."
        )
    return PromotionRule(tag=tag, **values)
