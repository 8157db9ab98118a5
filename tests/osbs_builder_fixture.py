"""The builder plugin on the OSBS backend, for the builder plugin's test modules.

``kojid`` runs the real plugin file's handlers with the osbs backend
configured, ``source`` publishes a demo image's checkout (both registered in
tests/conftest.py's pytest_plugins; a module's own fixtures of those names
come first); BUILD_OPTS and assert_refused are imported by name.
"""

import koji
import pytest

from tests.builder_harness import DOCKERFILE, Kojid, write_builder_config


@pytest.fixture
def kojid(sandbox_hub, tmp_path, monkeypatch):
    config = write_builder_config(
        str(tmp_path / "builder.conf"), "osbs", osbs={"conf_file": str(tmp_path / "osbs.conf")}
    )
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    return Kojid(sandbox_hub, str(tmp_path / "kojid-work"))


@pytest.fixture
def source(git_sources):
    return git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})


BUILD_OPTS = {"git_branch": "main"}


def assert_refused(kojid, fake_osbs, task_id, message):
    with pytest.raises(koji.BuildError) as error:
        kojid.run(task_id)
    assert message in str(error.value)
    assert fake_osbs.created == []
