"""buildContainer / buildSourceContainer through the real builder plugin file.

The handlers run as kojid runs them (plugin loaded with koji.plugin, kojid
options, the builder host's session of the sandbox hub) against the
osbs-client stand-in, with sources served by a local git daemon. Here: a
successful build, its metadata files, and source container builds.
"""

import os

import koji
import pytest

from koji_containerbuild.builder.attach import RECORD_NAME
from tests.builder_harness import DOCKERFILE, import_image_build
from tests.osbs_builder_fixture import BUILD_OPTS, assert_refused

# -- success ---------------------------------------------------------------


def test_success_returns_repositories_and_koji_build(kojid, fake_osbs, source):
    task_id = kojid.submit(source, BUILD_OPTS)
    result = kojid.run(task_id)
    name = fake_osbs.runs and next(iter(fake_osbs.runs))
    assert result["build_name"] == name
    assert result["repositories"] == [
        f"registry.example.com/{name}:1.0-1",
        f"registry.example.com/{name}:unique",
        f"registry.example.com/{name}:latest",
    ]
    assert result["koji_builds"] == ["1001"]
    assert result["user_warnings"] == []


def test_build_is_created_with_task_facts(kojid, fake_osbs, source):
    task_id = kojid.submit(source, {"git_branch": "main", "yum_repourls": ["http://r/x.repo"]})
    kojid.run(task_id)
    [(kind, kwargs)] = fake_osbs.created
    assert kind == "binary"
    url, commit = source.split("#")
    assert kwargs["git_uri"] == url
    assert kwargs["git_ref"] == commit
    assert kwargs["git_branch"] == "main"
    assert kwargs["component"] == "demo-image"
    assert kwargs["koji_task_id"] == task_id
    assert kwargs["user"] == "alice"
    assert kwargs["platforms"] == ["x86_64"]
    assert kwargs["yum_repourls"] == ["http://r/x.repo"]


def test_logs_and_handle_record_land_in_task_output(kojid, fake_osbs, source):
    fake_osbs.script(tasks={"binary-container-build-x86-64": ["step 1", "step 2"]})
    task_id = kojid.submit(source, BUILD_OPTS)
    kojid.run(task_id)
    output = kojid.session.listTaskOutput(task_id)
    assert RECORD_NAME in output
    assert b"step 2" in kojid.session.downloadTaskOutput(task_id, "x86_64.log")


def test_user_warnings_are_returned(kojid, fake_osbs, source):
    warning = (
        "2024-01-01 10:00:00,000 - atomic_reactor - USER_WARNING - "
        '{"message": "base image is old"}'
    )
    fake_osbs.script(tasks={"binary-container-prebuild": [warning, warning]})
    result = kojid.run(kojid.submit(source, BUILD_OPTS))
    assert result["user_warnings"] == ["base image is old"]


def test_user_warning_with_control_characters_closes_the_task_escaped(kojid, fake_osbs, source):
    warning = (
        "2024-01-01 10:00:00,000 - atomic_reactor - USER_WARNING - "
        '{"message": "a\\u001b]0;t\\u0007"}'
    )
    fake_osbs.script(tasks={"binary-container-prebuild": [warning]})
    task_id = kojid.submit(source, BUILD_OPTS)
    assert kojid.report(task_id) == "CLOSED"
    assert kojid.session.getTaskResult(task_id)["user_warnings"] == ["a\\x1b]0;t\\x07"]


def test_failure_text_with_control_characters_fails_the_task_escaped(kojid, fake_osbs, source):
    fake_osbs.script(state="Failed", error_message="step \x1b[31mred\x07 failed")
    task_id = kojid.submit(source, BUILD_OPTS)
    assert kojid.report(task_id) == "FAILED"
    with pytest.raises(koji.BuildError) as failure:
        kojid.session.getTaskResult(task_id)
    assert "step \\x1b[31mred\\x07 failed" in str(failure.value)


def test_scratch_build_has_no_koji_build_and_skips_package_check(kojid, fake_osbs, git_sources):
    dockerfile = DOCKERFILE.replace("demo-image", "unlisted-image")
    src = git_sources.publish("unlisted", {"Dockerfile": dockerfile})
    fake_osbs.script(
        results={"repositories": {"primary": ["r/x:1"], "unique": [], "floating": []}}
    )
    result = kojid.run(kojid.submit(src, {"git_branch": "main", "scratch": True}))
    assert result["koji_builds"] == []
    assert fake_osbs.created[0][1]["scratch"] is True


def test_flatpak_build_is_created_for_the_repository_component(kojid, fake_osbs, git_sources):
    src = git_sources.publish(
        "demo-image", {"container.yaml": "flatpak:\n  id: org.example.Demo\n"}
    )
    kojid.run(kojid.submit(src, {"git_branch": "main", "flatpak": True}))
    kind, kwargs = fake_osbs.created[0]
    assert kind == "binary"
    assert kwargs["flatpak"] is True
    assert kwargs["component"] == "demo-image"


def test_flatpak_build_of_an_unlisted_repository_is_refused(kojid, fake_osbs, git_sources):
    src = git_sources.publish("unlisted-app", {"container.yaml": "flatpak: {}\n"})
    task_id = kojid.submit(src, {"git_branch": "main", "flatpak": True})
    with pytest.raises(koji.BuildError, match="unlisted-app"):
        kojid.run(task_id)
    assert fake_osbs.created == []


# -- source container builds -----------------------------------------------------


def test_source_build_must_exist(kojid, fake_osbs):
    task_id = kojid.submit_source({"koji_build_nvr": "nope-1-1"})
    assert_refused(kojid, fake_osbs, task_id, "does not exist")


def test_scratch_metadata_file_is_attached(kojid, fake_osbs, source, sandbox_hub):
    relpath = "tasks/9/9/x86_64-metadata.json"
    full = os.path.join(sandbox_hub.topdir, "work", relpath)
    os.makedirs(os.path.dirname(full))
    with open(full, "w") as handle:
        handle.write('{"arch": "x86_64"}')
    line = f"2024-01-01 10:00:00,000 - atomic_reactor - INFO - platform:_metadata_ {relpath}"
    fake_osbs.script(tasks={"binary-container-postbuild": [line]})
    task_id = kojid.submit(source, {"git_branch": "main", "scratch": True})
    result = kojid.run(task_id)
    assert result["metadata_file"] == "x86_64-metadata.json"
    content = kojid.session.downloadTaskOutput(task_id, "x86_64-metadata.json")
    assert content == b'{"arch": "x86_64"}'


def test_metadata_file_never_replaces_a_file_of_the_task(kojid, fake_osbs, source, sandbox_hub):
    relpath = "tasks/9/9/osbs-build.log"
    full = os.path.join(sandbox_hub.topdir, "work", relpath)
    os.makedirs(os.path.dirname(full))
    with open(full, "w") as handle:
        handle.write("another task's log")
    line = f"2024-01-01 10:00:00,000 - atomic_reactor - INFO - platform:_metadata_ {relpath}"
    fake_osbs.script(tasks={"binary-container-postbuild": [line]})
    task_id = kojid.submit(source, {"git_branch": "main", "scratch": True})
    result = kojid.run(task_id)
    assert "metadata_file" not in result
    build_log = kojid.session.downloadTaskOutput(task_id, "osbs-build.log")
    assert b"another task's log" not in build_log
    assert line.encode() in build_log


# -- source container builds -----------------------------------------------------


@pytest.fixture
def image_build(sandbox_hub, tmp_path):
    return import_image_build(sandbox_hub, str(tmp_path / "imports"), "demo-image-1.0-1", {})


def test_source_build_is_created_for_the_image_build(kojid, fake_osbs, sandbox_hub, image_build):
    sandbox_hub.add_package("demo-candidate", "demo-image-source", "alice")
    task_id = kojid.submit_source({"koji_build_nvr": "demo-image-1.0-1"})
    result = kojid.run(task_id)
    [(kind, kwargs)] = fake_osbs.created
    assert kind == "source"
    assert kwargs["component"] == "demo-image-source"
    assert kwargs["sources_for_koji_build_nvr"] == "demo-image-1.0-1"
    assert kwargs["sources_for_koji_build_id"] == image_build["id"]
    assert result["koji_builds"]


def test_source_build_component_must_be_listed(kojid, fake_osbs, image_build):
    task_id = kojid.submit_source({"koji_build_id": image_build["id"]})
    assert_refused(kojid, fake_osbs, task_id, "'demo-image-source' is not in the package list")


def test_scratch_source_build_skips_package_check(kojid, fake_osbs, image_build):
    task_id = kojid.submit_source({"koji_build_id": image_build["id"], "scratch": True})
    kojid.run(task_id)
    assert fake_osbs.created[0][1]["scratch"] is True


def test_source_build_id_and_nvr_must_agree(kojid, fake_osbs, image_build):
    opts = {"koji_build_id": image_build["id"] + 7, "koji_build_nvr": "demo-image-1.0-1"}
    assert_refused(kojid, fake_osbs, kojid.submit_source(opts), "name different builds")
