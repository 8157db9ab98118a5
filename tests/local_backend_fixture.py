"""The local backend on the tests' shared registry and image storage, for its test modules.

Imported by name into each test module of the local backend (not a pytest
plugin): the OSBS harness's plugin has a ``backend`` fixture of its own, and a
module's own names come first.
"""

from __future__ import annotations

import os

import pytest

from koji_containerbuild.backends import create_backend
from koji_containerbuild.config import LocalSettings


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
