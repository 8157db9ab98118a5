"""What the builder plugin refuses before building (builder/checks.py, builder/flow.py).

Through the real builder plugin file against the sandbox hub and the
osbs-client stand-in: options, target, arches, SCM allow list, the checkout's
files and labels, the package list, the NVR and the parent build.
"""

import koji
import pytest

from tests.builder_harness import DOCKERFILE, Kojid, import_image_build, write_builder_config
from tests.osbs_builder_fixture import BUILD_OPTS, assert_refused

# -- checks ------------------------------------------------------------------


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
