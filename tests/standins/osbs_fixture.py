"""pytest plugin: the ``fake_osbs`` fixture puts the osbs-client stand-in in place.

The root conftest loads this plugin for every test module. The fixture yields
the :class:`fake_openshift.FakeOpenShift` that scripts and records builds.
"""

from __future__ import annotations

import os
import sys

import pytest

STANDINS_DIR = os.path.dirname(os.path.abspath(__file__))


def _forget_osbs_modules() -> None:
    for name in list(sys.modules):
        if name == "osbs" or name.startswith("osbs.") or name == "fake_openshift":
            del sys.modules[name]


@pytest.fixture
def fake_osbs():
    """A fresh FakeOpenShift behind ``import osbs`` for one test."""
    _forget_osbs_modules()
    sys.path.insert(0, STANDINS_DIR)
    try:
        import fake_openshift

        cluster = fake_openshift.FakeOpenShift()
        fake_openshift.install(cluster)
        yield cluster
    finally:
        fake_openshift.install(None)
        sys.path.remove(STANDINS_DIR)
        _forget_osbs_modules()
