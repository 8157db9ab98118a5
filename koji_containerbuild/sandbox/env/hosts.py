"""The sandbox's builder hosts: the ``--hosts`` option and each host's setup on the hub.

A real Koji site scales by adding kojid hosts of each arch to the container
channel. The sandbox does the same on one machine: every host is a user of
type host with its own name and arches on the hub, in the ``container``
channel, and runs its own worker process with its own work and log
directories. Hosts of an arch this machine does not run natively build
through qemu (binfmt_misc), with buildah ``--platform``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from koji_containerbuild.backends.local import buildah as bh

HOSTS_OPTION = "--hosts"
#: The first host keeps the name (and files) of the sandbox's one host of old.
FIRST_HOST = "builder"
MAX_HOSTS = 8
#: kojid's maxjobs default; with one host the sandbox keeps its lighter 4.
KOJID_MAXJOBS = 10
SINGLE_HOST_MAXJOBS = 4

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class HostsError(ValueError):
    """The --hosts value cannot be used; the message names the option and the fix."""


@dataclasses.dataclass(frozen=True)
class HostSpec:
    """One sandbox builder host: its hub name and the arches it takes tasks for."""

    name: str
    arches: tuple[str, ...]

    @property
    def arch(self) -> str:
        """The arch its builder plugin builds for (the builder config's ``arch``)."""
        return self.arches[0]


def default_hosts(native_arch: str) -> list[HostSpec]:
    """Today's sandbox: one host of this machine's arch."""
    return [HostSpec(FIRST_HOST, (native_arch,))]


def host_name(index: int) -> str:
    """builder, builder2, builder3, ... (index from 0)."""
    return FIRST_HOST if index == 0 else f"{FIRST_HOST}{index + 1}"


def parse_hosts(text: str, native_arch: str) -> list[HostSpec]:
    """Read a --hosts value: a count of native hosts, or one entry per host.

    ``2`` is two hosts of this machine's arch; ``x86_64,aarch64`` one host per
    entry. An entry is ``[NAME=]ARCH[+ARCH...]``; unnamed hosts are called
    builder, builder2, ... by position.
    """
    text = (text or "").strip()
    if not text:
        raise HostsError(
            f"{HOSTS_OPTION} is empty; give a number of hosts (2) or their arches "
            f"(x86_64,aarch64)."
        )
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= MAX_HOSTS:
            raise HostsError(f"{HOSTS_OPTION} {text}: give 1 to {MAX_HOSTS} hosts.")
        return [HostSpec(host_name(i), (native_arch,)) for i in range(count)]
    entries = [entry.strip() for entry in text.split(",")]
    if len(entries) > MAX_HOSTS:
        raise HostsError(f"{HOSTS_OPTION} lists {len(entries)} hosts; give 1 to {MAX_HOSTS}.")
    hosts = [_parse_entry(entry, i) for i, entry in enumerate(entries)]
    names = [host.name for host in hosts]
    for name in names:
        if names.count(name) > 1:
            raise HostsError(
                f"{HOSTS_OPTION} names host {name} twice; give each host its own name."
            )
    return hosts


def _parse_entry(entry: str, index: int) -> HostSpec:
    name, sep, arches_text = entry.rpartition("=")
    if not sep:
        name = host_name(index)
    elif not _NAME_RE.match(name):
        raise HostsError(
            f"{HOSTS_OPTION}: {name!r} is not a usable host name; use lower-case letters, "
            f"digits and '-' (up to 32, starting with a letter)."
        )
    arches = tuple(arch.strip() for arch in arches_text.split("+"))
    known = ", ".join(bh.ARCHES)
    for arch in arches:
        if not arch:
            raise HostsError(
                f"{HOSTS_OPTION}: host {name} has an empty arch; write each host as "
                f"[NAME=]ARCH[+ARCH], separated by commas."
            )
        if arch not in bh.ARCHES:
            raise HostsError(
                f"{HOSTS_OPTION}: host {name} has arch {arch!r}, which the sandbox cannot "
                f"build; use Koji's arch names: {known}."
            )
    if len(set(arches)) != len(arches):
        raise HostsError(f"{HOSTS_OPTION}: host {name} lists an arch twice; list each once.")
    return HostSpec(name, arches)


def all_arches(hosts: Sequence[HostSpec]) -> list[str]:
    """Every arch some host takes, first seen first (the demo build tag's arches)."""
    seen: list[str] = []
    for host in hosts:
        seen.extend(arch for arch in host.arches if arch not in seen)
    return seen


def maxjobs_for(hosts: Sequence[HostSpec]) -> int:
    """Tasks each worker runs at once.

    A parent task waiting for its arch subtasks holds one of its host's job
    slots, as in kojid (``len(self.tasks) >= maxjobs``), so several hosts get
    kojid's default: parents waiting on every slot would starve their subtasks.
    """
    return SINGLE_HOST_MAXJOBS if len(hosts) == 1 else KOJID_MAXJOBS


def emulation_problems(hosts: Sequence[HostSpec]) -> list[str]:
    """One sentence per host arch this machine cannot run (none: all can build here)."""
    problems = []
    for host in hosts:
        for arch in host.arches:
            problem = bh.emulation_problem(arch)
            if problem:
                problems.append(f"Sandbox host {host.name} ({arch}, {HOSTS_OPTION}): {problem}")
    return problems


def apply_hosts(hub: Any, hosts: Sequence[HostSpec], passwords: dict[str, str],
                channel: str, cg_name: str) -> None:  # fmt: skip
    """Make the hub's hosts match ``hosts``: arches, channel, CG access; disable the others.

    As an admin would: ``koji add-host NAME ARCH...`` (or ``edit-host --arches``),
    ``koji add-host-to-channel NAME container``, ``koji grant-cg-access NAME CG``
    and ``koji disable-host`` for builders no longer in use.
    """
    wanted = {host.name for host in hosts}
    for host in hosts:
        hub.add_user(host.name, password=passwords[host.name], host=True)
        hub.set_host(host.name, arches=" ".join(host.arches), enabled=True)
        hub.add_host_to_channel(host.name, channel)
        hub.grant_cg_access(host.name, cg_name)
    for info in hub.session().listHosts():
        if info["name"] not in wanted:
            hub.set_host(info["name"], enabled=False)
