"""The arch of the machine this process runs on, spelled as Koji spells arches.

One home for the CLI-free sides that need it: the local backend (what it can
build natively), the CG metadata (the buildroot host) and the sandbox (the
arches of its build tag and hosts).
"""

from __future__ import annotations

import os

import koji


def host_arch() -> str:
    """koji.canonArch of this machine (x86_64, aarch64, ...)."""
    return koji.canonArch(os.uname().machine)
