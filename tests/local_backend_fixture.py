"""The local backend on the tests' shared registry and image storage, for its test modules.

Also the requests they build and what they read back from the registry
(make_request, registry_digest, registry_tags).

Imported by name into each test module of the local backend (not a pytest
plugin): the OSBS harness's plugin has a ``backend`` fixture of its own, and a
module's own names come first.
"""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from koji_containerbuild.backends import create_backend
from koji_containerbuild.backends.base import BuildRequest
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry
from koji_containerbuild.config import LocalSettings
from koji_containerbuild.hostarch import host_arch


@pytest.fixture
def settings(tmp_path, image_storage, registry):
    return LocalSettings(
        registry=registry,
        registry_tls_verify=False,
        state_dir=str(tmp_path / "state"),
        storage_root=image_storage.root,
        storage_runroot=image_storage.runroot,
        storage_driver="vfs",
        isolation="chroot",
    )


@pytest.fixture
def backend(settings):
    os.makedirs(settings.state_dir)
    return create_backend("local", settings)


HOST = host_arch()


def make_request(tmp_path, dockerfile: str, *, name="demo/app", release="1", **kw):
    source = tmp_path / f"source-{time.monotonic_ns()}"
    source.mkdir()
    (source / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    values = dict(
        kind="binary",
        task_id=42,
        owner="alice",
        target="demo",
        component="app",
        platforms=[HOST],
        source_dir=str(source),
        dockerfile="Dockerfile",
        name=name,
        version="1.0",
        release=release,
        additional_tags=["stable"],
    )
    values.update(kw)
    return BuildRequest(**values)


def registry_digest(settings, ref):
    return registry.registry_digest(bh.settings_dict(settings), ref)


def registry_tags(settings, repository: str) -> list[str]:
    """The tags of ``repository`` in the settings' registry, sorted (none when it is missing)."""
    return sorted(
        registry.list_tags(bh.settings_dict(settings), f"{settings.registry}/{repository}")
    )
