"""A running sandbox (hub, worker, registry, git daemon) shared by the e2e tests.

The tests need buildah, skopeo and the docker-distribution registry. Without
them the tests are skipped on a developer machine, but under CI (CI=true)
they fail: CI installs those packages, so a skip there would hide a break.
"""

from __future__ import annotations

import os
import shutil

import pytest

from koji_containerbuild.sandbox.env import runtime

REQUIRED_TOOLS = {
    "buildah": "buildah",
    "skopeo": "skopeo",
    "docker-registry": "docker-registry (Debian) or docker-distribution (Fedora)",
}


def missing_tools() -> list[str]:
    missing = []
    for tool, package in REQUIRED_TOOLS.items():
        found = shutil.which(tool) or shutil.which(tool, path="/usr/bin:/usr/sbin")
        if tool == "docker-registry" and not found:
            found = shutil.which("registry")
        if not found:
            missing.append(package)
    return missing


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    missing = missing_tools()
    if missing:
        message = "end-to-end tests need: " + ", ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must install them)", pytrace=False)
        pytest.skip(message)
    state_dir = tmp_path_factory.mktemp("sandbox")
    # The hub wakes the worker when it makes, frees or cancels a task and a task
    # child's exit wakes it too (sandbox/kojid/wakeup.py): its poll interval
    # only bounds what no event announces, so it need not cost CPU 5 times a second.
    box = runtime.Sandbox(str(state_dir), worker_poll=1.0)
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="session")
def session(sandbox):
    """The demo user's ClientSession on the shared sandbox."""
    return sandbox.session(runtime.USER)


def require(problem: str | None) -> None:
    """Skip a test this machine cannot run (one sentence why); under CI, fail it."""
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(problem + " (CI must provide it)", pytrace=False)
    pytest.skip(problem)


#: The second arch of the multi-arch tests, built through qemu on this machine.
OTHER_ARCH = "aarch64" if runtime.host_arch() != "aarch64" else "x86_64"


def other_arch_problem() -> str | None:
    """Why this machine cannot build OTHER_ARCH images (qemu binfmt, busybox), or None."""
    from koji_containerbuild.backends.local import buildah as bh
    from koji_containerbuild.sandbox.env import baseimage

    return bh.emulation_problem(OTHER_ARCH) or baseimage.busybox_problem(OTHER_ARCH)


@pytest.fixture(scope="session")
def two_arch_sandbox(tmp_path_factory):
    """A sandbox with two hosts: builder (this machine's arch) and builder2 (OTHER_ARCH).

    The demo build tag lists both arches; builder2 builds through qemu.
    """
    missing = missing_tools()
    require("end-to-end tests need: " + ", ".join(missing) if missing else None)
    require(other_arch_problem())
    from koji_containerbuild.sandbox.env.hosts import parse_hosts

    hosts = parse_hosts(f"{runtime.host_arch()},{OTHER_ARCH}", runtime.host_arch())
    state_dir = tmp_path_factory.mktemp("sandbox-two-arch")
    # as the sandbox above: its polls only bound what no event announces
    box = runtime.Sandbox(str(state_dir), worker_poll=1.0, hosts=hosts)
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="session")
def chromium():
    """The headless browser the web view tests open pages in (tests/browser.py)."""
    from tests.browser import Browser, find_chromium

    binary = find_chromium()
    if binary is None:
        message = "the web view tests need: chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must install it)", pytrace=False)
        pytest.skip(message)
    browser = Browser(binary)
    try:
        yield browser
    finally:
        browser.close()
