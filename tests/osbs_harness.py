"""OSBS backend test helpers: a fake clock, an osbs.conf, the backend, requests.

Fixtures here are loaded for every test module by the root conftest; they
build on ``fake_osbs`` (tests/standins/osbs_fixture.py).
"""

from __future__ import annotations

import pytest

from koji_containerbuild.backends.base import BuildRequest
from koji_containerbuild.config import OsbsSettings


class FakeClock:
    """Injectable clock: sleeping advances time instantly."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def osbs_conf(tmp_path):
    path = tmp_path / "osbs.conf"
    path.write_text(
        "[general]\nverbose = 0\n"
        "[default_binary]\nopenshift_url = https://osbs.example.com/\n"
        "default_buildtime_limit = 3600\nmax_buildtime_limit = 7200\n"
        "[default_source]\nopenshift_url = https://osbs.example.com/\n"
    )
    return str(path)


def make_backend(osbs_conf, clock, **settings):
    from koji_containerbuild.backends.osbs import create

    settings = OsbsSettings(conf_file=osbs_conf, retry_seconds=60.0, **settings)
    return create(settings, clock=clock, sleep=clock.sleep)


@pytest.fixture
def backend(fake_osbs, osbs_conf, clock):
    return make_backend(osbs_conf, clock)


def binary_request(**changes) -> BuildRequest:
    fields = dict(
        kind="binary",
        task_id=4321,
        owner="alice",
        target="demo",
        component="demo-image",
        platforms=["x86_64", "aarch64"],
        git_uri="git://git.example.com/demo-image",
        git_ref="0123abcd",
        git_branch="main",
        opts={"git_branch": "main"},
    )
    fields.update(changes)
    return BuildRequest(**fields)


def source_request(**changes) -> BuildRequest:
    fields = dict(
        kind="source",
        task_id=4322,
        owner="alice",
        target="demo",
        component="demo-image-source",
        platforms=[],
        source_build_id=77,
        source_build_nvr="demo-image-1.0-1",
        opts={"signing_intent": "release", "userdata": {"a": 1}},
    )
    fields.update(changes)
    return BuildRequest(**fields)
