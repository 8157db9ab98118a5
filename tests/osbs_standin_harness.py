"""The osbs-client 2.8 stand-in's contract tests' harness: a client and its create arguments.

Shared by tests/test_osbs_standin*.py: ``osbs`` (registered in tests/conftest.py's
pytest_plugins) is a client of the stand-in on a fresh fake cluster;
create_arguments and create make its pipeline runs.
"""

from __future__ import annotations

import pytest

from koji_containerbuild.sandbox.osbs.harness import demo_source


@pytest.fixture
def osbs(fake_osbs, osbs_conf):
    """A stand-in OSBS client for binary builds, as osbs-client configures it (retries on)."""
    from osbs.api import OSBS
    from osbs.conf import Configuration

    return OSBS(Configuration(conf_file=osbs_conf, conf_section="default_binary"))


def create_arguments(**changes):
    git_uri, git_ref = demo_source()
    arguments = dict(
        git_uri=git_uri,
        git_ref=git_ref,
        git_branch="main",
        component="demo-image",
        default_buildtime_limit=3600,
        max_buildtime_limit=7200,
    )
    arguments.update(changes)
    return arguments


def create(osbs, **changes) -> str:
    return osbs.get_build_name(osbs.create_binary_container_build(**create_arguments(**changes)))
