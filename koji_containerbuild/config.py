"""The plugins' own config files (INI) and their defaults.

kojid refuses unknown kojid.conf options and hub.conf is the hub's own, so each
plugin reads a file of its own. A missing file means the defaults; a value that
cannot be used is a ConfigError naming the file, section, key and what is accepted,
so a typo never silently changes behaviour. The promotion and signer sections
are :mod:`koji_containerbuild.promoteconfig`; the value converters and
:class:`~koji_containerbuild.configvalues.ConfigError` are
:mod:`koji_containerbuild.configvalues`.
"""

from __future__ import annotations

import configparser
import contextvars
import os
import re
from dataclasses import dataclass, field
from typing import Any

import koji

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
from koji_containerbuild.promoteconfig import (
    PROMOTE_KEYS,
    PROMOTE_RULE_KEYS,
    REQUIRED_KEYS,
    SIGNER_KEYS,
    PromoteSettings,
    PromotionRule,
    SignerSettings,
)

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
    promote: PromoteSettings = field(default_factory=PromoteSettings)
    signers: dict = field(default_factory=dict)


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


#: OCI and Debian names of arches, which Koji spells otherwise (x86_64, aarch64, ...).
_NOT_KOJI_ARCHES = ("amd64", "arm64", "armhf", "ppc64el", "386", "noarch", "src")


def _arch(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]+", raw) or raw in _NOT_KOJI_ARCHES:
        raise Invalid("a Koji arch name such as x86_64 or aarch64 (not amd64 or arm64)")
    return raw


_BUILDER_KEYS: dict[str, dict[str, Converter]] = {
    "builder": {
        "backend": choice(*BACKENDS),
        "log_flush_interval": number(0, strict=True),
        "cg_name": text,
        "arch": _arch,
    },
    "osbs": {
        "conf_file": text,
        "binary_section": text,
        "source_section": text,
        "remove_finished_builds": boolean,
        "retry_seconds": number(0, strict=False),
    },
    "local": {
        "registry": text,
        "registry_tls_verify": boolean,
        "state_dir": text,
        "storage_root": optional_text,
        "storage_runroot": optional_text,
        "storage_driver": choice("vfs", "overlay"),
        "isolation": choice("chroot", "oci", "rootless"),
    },
    "promote": PROMOTE_KEYS,
    "signer:": SIGNER_KEYS,
}

_HUB_KEYS: dict[str, dict[str, Converter]] = {
    "hub": {"build_permission": optional_text, "channel_permission": optional_text},
    # configparser lowercases keys; the method names are matched case-insensitively.
    "channels": {method.lower(): text for method in BUILD_METHODS},
    "promote:": PROMOTE_RULE_KEYS,
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


def _read(path: str, known: dict[str, dict[str, Converter]]) -> dict[str, dict[str, Any]]:
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
            except Invalid as invalid:
                raise ConfigError(
                    f"{path}: [{section}] {key} = {raw.strip()!r} is not valid: "
                    f"accepted values are {invalid.accepted}."
                ) from None
        for key in REQUIRED_KEYS.get(pattern, ()):
            if key not in values[section]:
                raise ConfigError(f"{path}: [{section}] needs {key} = ...: it has no default.")
    return values


def _key_names(section: str, converters: dict) -> list[str]:
    if section == "channels":
        return list(BUILD_METHODS)
    return list(converters)
