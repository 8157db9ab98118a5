"""pytest fixtures for the OSBS backend on the osbs-client stand-in.

The root conftest loads them for every test module. The stand-in and its
helpers live in koji_containerbuild.sandbox.osbs (bench/ uses them too).
"""

from __future__ import annotations

import pytest

from koji_containerbuild.sandbox.osbs import fake_osbs_installed
from koji_containerbuild.sandbox.osbs.harness import FakeClock, make_backend, write_osbs_conf


@pytest.fixture
def fake_osbs():
    """A fresh FakeOpenShift behind ``import osbs`` for one test."""
    with fake_osbs_installed() as cluster:
        yield cluster


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def osbs_conf(tmp_path):
    return write_osbs_conf(str(tmp_path / "osbs.conf"))


@pytest.fixture
def backend(fake_osbs, osbs_conf, clock):
    return make_backend(osbs_conf, clock)
