"""The plugins' own config files (INI) and their defaults.

kojid refuses unknown kojid.conf options and hub.conf is the hub's own, so each
plugin reads a file of its own. A missing file means the defaults; a value that
cannot be used is a ConfigError naming the file, section, key and what is accepted,
so a typo never silently changes behaviour.
"""

from __future__ import annotations

import configparser
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

BACKENDS = ("osbs", "local")
BUILD_METHODS = ("buildContainer", "buildSourceContainer")


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
class BuilderConfig:
    backend: str = "osbs"
    log_flush_interval: float = 0.2
    cg_name: str = "koji-containerbuild"
    #: The arch this builder builds for: the arch it has in Koji (koji add-host NAME ARCH).
    #: Another than the machine's builds through qemu (binfmt_misc).
    arch: str = field(default_factory=machine_arch)
    osbs: OsbsSettings = field(default_factory=OsbsSettings)
    local: LocalSettings = field(default_factory=LocalSettings)


def _default_channels() -> dict:
    return {method: "container" for method in BUILD_METHODS}


@dataclass
class HubConfig:
    #: Permission needed to submit builds; None: any logged-in user.
    build_permission: str | None = None
    #: Permission allowing another channel than the default; None: admins only.
    channel_permission: str | None = None
    channels: dict = field(default_factory=_default_channels)


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
}

_HUB_KEYS: dict[str, dict[str, _Converter]] = {
    "hub": {"build_permission": _optional_text, "channel_permission": _optional_text},
    # configparser lowercases keys; the method names are matched case-insensitively.
    "channels": {method.lower(): _text for method in BUILD_METHODS},
}


def load_builder_config(path: str | None = None) -> BuilderConfig:
    """Read the builder plugin's config; a missing file gives the defaults."""
    path = path or os.environ.get(BUILDER_CONFIG_ENV) or BUILDER_CONFIG_PATH
    values = _read(path, _BUILDER_KEYS)
    config = BuilderConfig(**values.get("builder", {}))
    config.osbs = OsbsSettings(**values.get("osbs", {}))
    config.local = LocalSettings(**values.get("local", {}))
    return config


def load_hub_config(path: str | None = None) -> HubConfig:
    """Read the hub plugin's config; a missing file gives the defaults."""
    path = path or os.environ.get(HUB_CONFIG_ENV) or HUB_CONFIG_PATH
    values = _read(path, _HUB_KEYS)
    config = HubConfig(**values.get("hub", {}))
    by_key = {method.lower(): method for method in BUILD_METHODS}
    for key, channel in values.get("channels", {}).items():
        config.channels[by_key[key]] = channel
    return config


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
        if section not in known:
            raise ConfigError(
                f"{path}: section [{section}] is not known: accepted sections are "
                + ", ".join(f"[{name}]" for name in known)
                + "."
            )
        for key, raw in parser.items(section):
            converters = known[section]
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
    return values


def _key_names(section: str, converters: dict) -> list[str]:
    if section == "channels":
        return list(BUILD_METHODS)
    return list(converters)
