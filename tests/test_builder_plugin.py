"""buildContainer / buildSourceContainer through the real builder plugin file.

The handlers run as kojid runs them (plugin loaded with koji.plugin, kojid
options, the builder host's session of the sandbox hub) against the
osbs-client stand-in, with sources served by a local git daemon.
"""

import os
import signal

import koji
import pytest

from koji_containerbuild.builder.attach import RECORD_NAME
from koji_containerbuild.builder.cancel import TaskCancelled
from tests.builder_harness import (
    DOCKERFILE,
    Kojid,
    import_image_build,
    when,
    write_builder_config,
)


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


def fake_pipelinerun():
    import fake_pipelinerun as module

    return module


BUILD_OPTS = {"git_branch": "main"}


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


# -- checks ------------------------------------------------------------------


def assert_refused(kojid, fake_osbs, task_id, message):
    with pytest.raises(koji.BuildError) as error:
        kojid.run(task_id)
    assert message in str(error.value)
    assert fake_osbs.created == []


def test_invalid_opts_are_refused(kojid, fake_osbs, source, sandbox_hub):
    # admins can make tasks with any arguments, bypassing the hub plugin
    admin = sandbox_hub.session("admin")
    task_id = admin.makeTask("buildContainer", [source, "demo", {"bogus": 1}], channel="container")
    assert_refused(kojid, fake_osbs, task_id, "Invalid build options")


def test_unknown_target_is_refused(kojid, fake_osbs, source, sandbox_hub):
    admin = sandbox_hub.session("admin")
    task_id = admin.makeTask("buildContainer", [source, "nope", BUILD_OPTS], channel="container")
    assert_refused(kojid, fake_osbs, task_id, "Build target 'nope' does not exist")


def test_arch_override_needs_scratch_or_isolated(kojid, fake_osbs, source, sandbox_hub):
    admin = sandbox_hub.session("admin")
    opts = {"git_branch": "main", "arch_override": "x86_64"}
    task_id = admin.makeTask("buildContainer", [source, "demo", opts], channel="container")
    assert_refused(kojid, fake_osbs, task_id, "only allowed for scratch or isolated builds")


def test_arch_override_must_be_build_tag_arch(kojid, fake_osbs, source):
    opts = {"git_branch": "main", "scratch": True, "arch_override": "ppc64le"}
    assert_refused(kojid, fake_osbs, kojid.submit(source, opts), "ppc64le")


def test_arch_override_selects_platforms(kojid, fake_osbs, source, sandbox_hub):
    sandbox_hub.add_tag("multi-build", arches="x86_64 aarch64")
    sandbox_hub.add_target("multi", "multi-build", "demo-candidate")
    opts = {"git_branch": "main", "scratch": True, "arch_override": "aarch64"}
    kojid.run(kojid.submit(source, opts, target="multi"))
    assert fake_osbs.created[0][1]["platforms"] == ["aarch64"]


def test_build_tag_arches_are_all_platforms(kojid, fake_osbs, source, sandbox_hub):
    sandbox_hub.add_tag("multi-build", arches="x86_64 aarch64")
    sandbox_hub.add_target("multi", "multi-build", "demo-candidate")
    kojid.run(kojid.submit(source, BUILD_OPTS, target="multi"))
    assert fake_osbs.created[0][1]["platforms"] == ["x86_64", "aarch64"]


def test_scm_outside_allowlist_is_refused(sandbox_hub, tmp_path, fake_osbs, source, monkeypatch):
    config = write_builder_config(str(tmp_path / "b.conf"), "osbs")
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    kojid = Kojid(sandbox_hub, str(tmp_path / "w"), allowed_scms="scm.example.com:*")
    assert_refused(kojid, fake_osbs, kojid.submit(source, BUILD_OPTS), "allowed SCMs")


def test_missing_dockerfile_is_refused(kojid, fake_osbs, git_sources):
    src = git_sources.publish("empty", {"README": "no dockerfile\n"})
    assert_refused(kojid, fake_osbs, kojid.submit(src, BUILD_OPTS), "has no Dockerfile")


@pytest.mark.parametrize("name", ["additional-tags", "Dockerfile", ".dockerignore"])
def test_source_file_linked_out_of_the_checkout_is_refused(kojid, fake_osbs, git_sources, name):
    files = {"Dockerfile": DOCKERFILE}
    files.pop(name, None)
    src = git_sources.publish("demo-image", files, symlinks={name: "/etc/passwd"})
    task_id = kojid.submit(src, BUILD_OPTS)
    assert_refused(kojid, fake_osbs, task_id, f"The source file {name!r} is a symlink")


def test_flatpak_container_yaml_linked_out_of_the_checkout_is_refused(
    kojid, fake_osbs, git_sources
):
    src = git_sources.publish("demo-image", {}, symlinks={"container.yaml": "/etc/hostname"})
    task_id = kojid.submit(src, {"git_branch": "main", "flatpak": True})
    assert_refused(kojid, fake_osbs, task_id, "The source file 'container.yaml' is a symlink")


def test_missing_name_label_is_refused(kojid, fake_osbs, git_sources):
    src = git_sources.publish("noname", {"Dockerfile": DOCKERFILE.replace("name=", "x=")})
    assert_refused(kojid, fake_osbs, kojid.submit(src, BUILD_OPTS), "name (or Name)")


def test_too_long_version_release_is_refused(kojid, fake_osbs, git_sources):
    dockerfile = DOCKERFILE.replace("release=1", "release=" + "r" * 100)
    assert dockerfile != DOCKERFILE
    src = git_sources.publish("demo-image", {"Dockerfile": dockerfile})
    assert_refused(kojid, fake_osbs, kojid.submit(src, BUILD_OPTS), "104 characters long")


@pytest.mark.parametrize("release", ["..", ".", "1/2", "1%{dist}", "1:2", "1\u00e9"])
def test_release_label_the_hub_could_not_hold_is_refused_before_building(
    kojid, fake_osbs, git_sources, sandbox_hub, release
):
    dockerfile = DOCKERFILE.replace("release=1", f'release="{release}"')
    src = git_sources.publish("demo-image", {"Dockerfile": dockerfile})
    assert_refused(
        kojid, fake_osbs, kojid.submit(src, BUILD_OPTS), "The Dockerfile's release label"
    )
    assert sandbox_hub.session("alice").listBuilds() == []


def test_package_not_in_list_is_refused(kojid, fake_osbs, git_sources):
    src = git_sources.publish("other", {"Dockerfile": DOCKERFILE.replace("demo-image", "other")})
    assert_refused(kojid, fake_osbs, kojid.submit(src, BUILD_OPTS), "not in the package list")


def test_blocked_package_is_refused(kojid, fake_osbs, source, sandbox_hub):
    sandbox_hub.add_package("demo-candidate", "demo-image", "alice", blocked=True)
    assert_refused(kojid, fake_osbs, kojid.submit(source, BUILD_OPTS), "is blocked")


def reserve(sandbox_hub, nvr_release="1"):
    sandbox_hub.grant_cg_access("admin", "test-cg")
    admin = sandbox_hub.session("admin")
    data = {"name": "demo-image", "version": "1.0", "release": nvr_release}
    return admin, admin.CGInitBuild("test-cg", data)


def test_existing_nvr_is_refused(kojid, fake_osbs, source, sandbox_hub):
    reserve(sandbox_hub)
    assert_refused(kojid, fake_osbs, kojid.submit(source, BUILD_OPTS), "demo-image-1.0-1 already")


def test_failed_nvr_may_be_rebuilt(kojid, fake_osbs, source, sandbox_hub):
    admin, reservation = reserve(sandbox_hub)
    failed = koji.BUILD_STATES["FAILED"]
    admin.CGRefundBuild("test-cg", reservation["build_id"], reservation["token"], failed)
    assert kojid.run(kojid.submit(source, BUILD_OPTS))["koji_builds"]


def test_koji_parent_build_must_exist(kojid, fake_osbs, source):
    opts = {"git_branch": "main", "koji_parent_build": "base-1-1"}
    assert_refused(kojid, fake_osbs, kojid.submit(source, opts), "koji_parent_build 'base-1-1'")


def test_koji_parent_build_is_left_to_osbs_to_resolve(
    kojid, fake_osbs, source, sandbox_hub, tmp_path
):
    # a parent OSBS can use although it records no pull spec in extra.image.index.pull
    import_image_build(sandbox_hub, str(tmp_path / "parent"), "base-1-1", {})
    opts = {"git_branch": "main", "koji_parent_build": "base-1-1"}
    kojid.run(kojid.submit(source, opts))
    _kind, arguments = fake_osbs.created[0]
    assert arguments["koji_parent_build"] == "base-1-1"


# -- outcomes ------------------------------------------------------------------


def test_failed_build_fails_task_with_reason_and_name(kojid, fake_osbs, source):
    fake_osbs.script(state="Failed", error_message="RUN step exited with 1;")
    with pytest.raises(koji.BuildError) as error:
        kojid.run(kojid.submit(source, BUILD_OPTS))
    name = next(iter(fake_osbs.runs))
    assert str(error.value) == f"The container build {name} failed: RUN step exited with 1"


def test_failure_text_names_the_build_once(kojid, fake_osbs, source):
    fake_osbs.script(state="Failed", error_message="Error in plugin check_base_image: nope")
    with pytest.raises(koji.BuildError) as error:
        kojid.run(kojid.submit(source, BUILD_OPTS))
    name = next(iter(fake_osbs.runs))
    assert str(error.value).count(name) == 1


def test_build_osbs_refuses_at_create_fails_the_task_with_one_sentence(
    kojid, fake_osbs, git_sources
):
    dockerfile = DOCKERFILE.replace("release=1", "release=abc")
    src = git_sources.publish("demo-image", {"Dockerfile": dockerfile})
    with pytest.raises(koji.BuildError) as error:
        kojid.run(kojid.submit(src, BUILD_OPTS))
    message = str(error.value)
    assert (
        "OSBS refused the build: release label doesn't have proper format; correct it" in message
    )
    assert "Traceback" not in message
    assert fake_osbs.created == []


def test_cancel_in_osbs_cancels_the_task(kojid, fake_osbs, source):
    fake_osbs.script(state="PipelineRunCancelled")
    task_id = kojid.submit(source, BUILD_OPTS)
    with pytest.raises(koji.BuildError, match="cancelled"):
        kojid.run(task_id)
    assert kojid.task_state(task_id) == "CANCELED"


def test_build_that_cannot_be_recorded_is_cancelled_and_fails(
    kojid, fake_osbs, source, monkeypatch
):
    from koji_containerbuild.builder import run as taskrun

    def hub_refuses(*args, **kwargs):
        raise koji.GenericError("upload path exists")

    monkeypatch.setattr(taskrun, "write_record", hub_refuses)
    with pytest.raises(koji.BuildError, match="could not be recorded in the task output"):
        kojid.run(kojid.submit(source, BUILD_OPTS))
    assert fake_osbs.cancelled == list(fake_osbs.runs)


def paused_build(fake_osbs):
    pause = fake_pipelinerun().Pause()
    fake_osbs.script(tasks={"binary-container-build-x86-64": ["first line", pause, "last"]})
    return pause


def test_koji_cancel_signal_cancels_the_osbs_build(kojid, fake_osbs, source, sandbox_hub):
    paused_build(fake_osbs)
    task_id = kojid.submit(source, BUILD_OPTS)

    def cancel():
        sandbox_hub.session("admin").cancelTask(task_id)
        os.kill(os.getpid(), signal.SIGINT)

    when(lambda: any(run.log_opens for run in fake_osbs.runs.values()), cancel)
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    assert fake_osbs.cancelled == list(fake_osbs.runs)


def test_shutdown_signal_keeps_the_build_and_rerun_follows_it(kojid, fake_osbs, source):
    pause = paused_build(fake_osbs)
    task_id = kojid.submit(source, BUILD_OPTS)
    when(
        lambda: any(run.log_opens for run in fake_osbs.runs.values()),
        lambda: os.kill(os.getpid(), signal.SIGINT),
    )
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)  # the task is still OPEN: kojid is going down
    assert fake_osbs.cancelled == []
    pause.event.set()
    result = kojid.run(task_id)  # the same task run again after the restart
    assert len(fake_osbs.created) == 1
    assert result["build_name"] == next(iter(fake_osbs.runs))


def test_rerun_follows_a_binary_build_named_like_a_source_build(
    kojid, fake_osbs, git_sources, sandbox_hub
):
    sandbox_hub.add_package("demo-candidate", "source-highlight", "alice")
    dockerfile = DOCKERFILE.replace("component=demo-image", "component=source-highlight")
    source = git_sources.publish("source-highlight", {"Dockerfile": dockerfile})
    pause = paused_build(fake_osbs)
    task_id = kojid.submit(source, BUILD_OPTS)
    when(
        lambda: any(run.log_opens for run in fake_osbs.runs.values()),
        lambda: os.kill(os.getpid(), signal.SIGINT),
    )
    with pytest.raises(TaskCancelled):
        kojid.run(task_id)
    pause.event.set()
    result = kojid.run(task_id)  # a new backend: it knows the build only from the record
    assert result["build_name"].startswith("source-highlight-")
    assert {conf.conf_section for conf in fake_osbs.configurations} == {"default_binary"}


def test_rerun_starts_anew_when_the_recorded_build_is_gone(kojid, fake_osbs, source):
    task_id = kojid.submit(source, BUILD_OPTS)
    kojid.run(task_id)
    for run in fake_osbs.runs.values():
        run.removed = True
    kojid.run(task_id)
    assert len(fake_osbs.created) == 2


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
