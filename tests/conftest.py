"""Fixtures shared by the test modules: the sandbox hub and its XML-RPC server."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fixture modules shared by several test modules (pytest reads this list only here).
pytest_plugins = [
    "tests.git_fixture",
    "tests.image_fixture",
    "tests.logs_harness",
    "tests.osbs_builder_fixture",
    "tests.osbs_harness",
    "tests.osbs_standin_harness",
    "tests.promote_fixture",
    "tests.worker_harness",
]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which a run may lack
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadgroup`` (scripts/test): tests/xdist_units.py's units."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_units import make_scheduler

    return make_scheduler(config, log)


@pytest.fixture(scope="session", autouse=True)
def koji_forkserver(tmp_path_factory):
    """Every koji command of the tests runs through one fork server per test process.

    See tests/koji_forkserver.py: the runs are the real koji script, without
    paying for its imports each time. The sandbox's helpers find it through
    KCB_KOJI; tests/cli_harness.py through koji_executable().
    """
    import os

    from koji_containerbuild.sandbox.env.layout import koji_executable
    from tests import koji_forkserver
    from tests.koji_forkserver_client import REAL_VAR, SOCKET_VAR

    real = koji_executable()
    directory = tmp_path_factory.mktemp("koji-forkserver")
    process, socket_path, launcher = koji_forkserver.start(directory, real)
    saved = {name: os.environ.get(name) for name in ("KCB_KOJI", REAL_VAR, SOCKET_VAR)}
    os.environ.update({"KCB_KOJI": str(launcher), REAL_VAR: real, SOCKET_VAR: str(socket_path)})
    yield launcher
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    process.terminate()
    process.wait(30)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def sandbox_hub(tmp_path):
    """A SandboxHub with the real hub plugin and the demo setup (tests/hub_setup.py)."""
    from tests.hub_setup import make_sandbox_hub

    hub = make_sandbox_hub(str(tmp_path / "koji"))
    yield hub
    hub.db.close()


def open_task(hub, host: str = "builder", method: str = "buildContainer") -> int:
    """A new task OPEN on ``host``: only that host may upload into its output."""
    task_id = hub.session("admin").makeTask(method, [], channel="container")
    hub.session(host).host.openTask(task_id)
    return task_id


@pytest.fixture
def hub_server(sandbox_hub):
    """The sandbox hub served over Koji's XML-RPC protocol on 127.0.0.1."""
    from koji_containerbuild.sandbox.kojihub.server import serve

    handle = serve(sandbox_hub)
    yield handle
    handle.stop()


@pytest.fixture
def koji_cli(tmp_path, hub_server):
    """The real koji command with this repository's CLI plugin, talking to hub_server."""
    from tests.cli_harness import KojiCLI

    return KojiCLI(tmp_path, hub_server.url)


@pytest.fixture
def offline_cli(tmp_path):
    """The koji command with no hub: a command that got as far as calling one fails."""
    from tests.cli_harness import KojiCLI

    # Nothing listens on port 9.
    return KojiCLI(tmp_path, "http://127.0.0.1:9/kojihub")
