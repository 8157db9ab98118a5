"""The OSBS stand-in: osbs-client 2.8's modules over a scripted OpenShift.

``standins/`` holds a fake ``osbs`` package (same module layout, signatures
and behaviour as osbs-client 2.8), ``fake_openshift``, the cluster behind it
that a caller scripts and inspects, and ``fake_pipelinerun``, the build
scripts and runs of that cluster. :func:`fake_osbs_installed` puts them
behind ``import osbs``; the tests (the ``fake_osbs`` fixture) and bench/ use
it, and :mod:`koji_containerbuild.sandbox.osbs.harness` builds requests and
backends on it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

STANDINS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standins")


def _forget_osbs_modules() -> None:
    for name in list(sys.modules):
        if name in ("osbs", "fake_openshift", "fake_pipelinerun") or name.startswith("osbs."):
            del sys.modules[name]


@contextlib.contextmanager
def fake_osbs_installed() -> Iterator[Any]:
    """A fresh FakeOpenShift behind ``import osbs`` until the block ends; yields it."""
    _forget_osbs_modules()
    sys.path.insert(0, STANDINS_DIR)
    try:
        import fake_openshift

        cluster = fake_openshift.FakeOpenShift()
        fake_openshift.install(cluster)
        try:
            yield cluster
        finally:
            fake_openshift.install(None)
    finally:
        sys.path.remove(STANDINS_DIR)
        _forget_osbs_modules()
