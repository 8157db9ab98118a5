"""The OSBS backend on the stand-in: a fake clock, an osbs.conf, the backend, sources, requests.

For the tests (their fixtures in tests/osbs_harness.py) and bench/; they run
inside :func:`koji_containerbuild.sandbox.osbs.fake_osbs_installed`. The
osbs-client stand-in clones a binary build's source as osbs-client does, so
requests point at real git repositories (:func:`make_source`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile

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


def write_osbs_conf(path: str) -> str:
    """An osbs.conf at ``path`` with a binary and a source instance; returns ``path``."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            "[general]\nverbose = 0\n"
            "[default_binary]\nopenshift_url = https://osbs.example.com/\n"
            "default_buildtime_limit = 3600\nmax_buildtime_limit = 7200\n"
            "[default_source]\nopenshift_url = https://osbs.example.com/\n"
        )
    return path


def make_backend(osbs_conf, clock, **settings):
    """The backend on ``clock``; the osbs-client stand-in's own waits move the same clock."""
    import fake_openshift

    from koji_containerbuild.backends.osbs.backend import create

    fake_openshift.current().share_clock(clock)
    settings = OsbsSettings(conf_file=osbs_conf, **{"retry_seconds": 60.0, **settings})
    return create(settings, clock=clock, sleep=clock.sleep)


DEMO_DOCKERFILE = (
    "FROM registry.example.com/base:1\n"
    "LABEL com.redhat.component=demo-image name=demo/image version=1.0 release=1\n"
)


def make_source(directory: str, files: dict[str, str], branch: str = "main") -> tuple[str, str]:
    """A git repository at ``directory`` holding ``files`` on ``branch``: (its URI, the commit)."""
    os.makedirs(directory)
    for path, text in files.items():
        with open(os.path.join(directory, path), "w", encoding="utf-8") as handle:
            handle.write(text)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=directory,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q", "-b", branch)
    git("add", "-A")
    git("commit", "-q", "-m", "source")
    return directory, git("rev-parse", "HEAD")


_demo_source: tuple[str, str] | None = None


def demo_source() -> tuple[str, str]:
    """The demo image's repository (made once per process): (URI, commit)."""
    global _demo_source
    if _demo_source is None:
        base = tempfile.mkdtemp(prefix="osbs-harness-")
        atexit.register(shutil.rmtree, base, True)
        _demo_source = make_source(
            os.path.join(base, "demo-image"), {"Dockerfile": DEMO_DOCKERFILE}
        )
    return _demo_source


def binary_request(**changes) -> BuildRequest:
    git_uri, git_ref = demo_source()
    fields = dict(
        kind="binary",
        task_id=4321,
        owner="alice",
        target="demo",
        component="demo-image",
        platforms=["x86_64", "aarch64"],
        git_uri=git_uri,
        git_ref=git_ref,
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
