"""The hub-side checks of a container build task, against the sandbox hub."""

import koji
import pytest

from koji_containerbuild.builder import checks
from tests.builder_harness import import_image_build


@pytest.fixture
def session(sandbox_hub):
    return sandbox_hub.session("builder")


@pytest.fixture
def target(session):
    return checks.resolve_target(session, "demo")


def test_target_resolves_tags_and_arches_at_one_event(target, session):
    assert (target.build_tag_name, target.dest_tag_name) == ("demo-build", "demo-candidate")
    assert target.arches == ["x86_64"]
    assert target.event_id == session.getLastEvent()["id"]


def test_unknown_target_is_refused(session):
    with pytest.raises(koji.BuildError, match="'nope' does not exist"):
        checks.resolve_target(session, "nope")


def test_build_tag_without_arches_is_refused(sandbox_hub, session):
    sandbox_hub.add_tag("bare-build", arches=None)
    sandbox_hub.add_target("bare", "bare-build", "demo-candidate")
    with pytest.raises(koji.BuildError, match="has no arches"):
        checks.resolve_target(session, "bare")


def test_tag_arches_are_used_without_override(target):
    assert checks.select_arches(target, {}) == ["x86_64"]


def test_arch_override_is_canonicalised(sandbox_hub, session):
    sandbox_hub.add_tag("i386-build", arches="i386 x86_64")
    sandbox_hub.add_target("i386", "i386-build", "demo-candidate")
    target = checks.resolve_target(session, "i386")
    opts = {"scratch": True, "arch_override": "i686 i386"}
    assert checks.select_arches(target, opts) == ["i386"]


def test_arch_override_refused_for_arch_the_tag_lacks(target):
    with pytest.raises(koji.BuildError, match="s390x, which build tag 'demo-build'"):
        checks.select_arches(target, {"isolated": True, "arch_override": "s390x"})


def test_policy_data_names_owner_channel_and_scratch(sandbox_hub, session):
    task_id = sandbox_hub.session("alice").buildContainer(
        "git://127.0.0.1/x#abc", "demo", {"git_branch": "main"}
    )
    owner, policy = checks.task_owner_and_policy(session, task_id, True)
    assert owner["name"] == "alice"
    assert policy == {"user_id": owner["id"], "channel": "container", "scratch": True}


def test_listed_package_passes(session, target):
    checks.check_package_listed(session, target, "demo-image")


def test_unlisted_package_is_refused(session, target):
    with pytest.raises(koji.BuildError, match="'other' is not in the package list"):
        checks.check_package_listed(session, target, "other")


def test_blocked_package_is_refused(sandbox_hub, session, target):
    sandbox_hub.add_package("demo-candidate", "demo-image", "alice", blocked=True)
    target = checks.resolve_target(session, "demo")
    with pytest.raises(koji.BuildError, match="blocked"):
        checks.check_package_listed(session, target, "demo-image")


def test_new_nvr_is_free(session):
    checks.check_nvr_free(session, "demo-image-1.0-1")


def test_complete_nvr_is_taken(sandbox_hub, session, tmp_path):
    import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-1", {})
    with pytest.raises(koji.BuildError, match="already exists"):
        checks.check_nvr_free(session, "demo-image-1.0-1")


def test_next_free_release_skips_existing_builds(sandbox_hub, session, tmp_path):
    import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-1", {})
    assert checks.next_free_release(session, "demo-image", "1.0") == "2"
    assert checks.next_free_release(session, "demo-image", "1.0", base="5") == "5.1"


def test_parent_pull_spec_prefers_digest(sandbox_hub, session, tmp_path):
    pulls = ["reg/base:1-1", "reg/base@sha256:" + "a" * 64]
    import_image_build(sandbox_hub, str(tmp_path), "base-1-1", {"index": {"pull": pulls}})
    assert checks.resolve_parent_image(session, "base-1-1") == pulls[1]


def test_parent_without_pull_spec_is_refused(sandbox_hub, session, tmp_path):
    import_image_build(sandbox_hub, str(tmp_path), "base-1-1", {})
    with pytest.raises(koji.BuildError, match="records no pull spec"):
        checks.resolve_parent_image(session, "base-1-1")


def test_source_build_by_id_and_nvr(sandbox_hub, session, tmp_path):
    build = import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-1", {})
    info = checks.resolve_source_build(session, build["id"], "demo-image-1.0-1")
    assert (info.build_id, info.component) == (build["id"], "demo-image-source")


def test_source_build_id_and_nvr_must_agree(sandbox_hub, session, tmp_path):
    build = import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-1", {})
    with pytest.raises(koji.BuildError, match="name different builds"):
        checks.resolve_source_build(session, build["id"] + 100, "demo-image-1.0-1")


def test_source_build_must_exist(session):
    with pytest.raises(koji.BuildError, match="does not exist"):
        checks.resolve_source_build(session, None, "nope-1-1")


def test_source_of_a_source_container_is_refused(sandbox_hub, session, tmp_path):
    extra = {"sources_for_nvr": "demo-image-1.0-1"}
    import_image_build(sandbox_hub, str(tmp_path), "demo-image-source-1.0-1.1", extra)
    with pytest.raises(koji.BuildError, match="itself a source container build"):
        checks.resolve_source_build(session, None, "demo-image-source-1.0-1.1")


def test_source_build_must_be_an_image_build(sandbox_hub, session, tmp_path):
    import_image_build(sandbox_hub, str(tmp_path), "tool-1.0-1", None)
    with pytest.raises(koji.BuildError, match="not a container image build"):
        checks.resolve_source_build(session, None, "tool-1.0-1")


def test_source_build_marked_by_osbs_kind_is_refused(sandbox_hub, session, tmp_path):
    build = {"extra": {"image": {}, "osbs_build": {"kind": "source_container_build"}}}
    assert checks._is_source_container_build(build)


# ---------------------------------------------------------------- option spellings


def test_taken_nvr_advice_names_the_release_option_for_both_clients(
    sandbox_hub, session, tmp_path
):
    import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-1", {})
    with pytest.raises(koji.BuildError) as refused:
        checks.check_nvr_free(session, "demo-image-1.0-1")
    assert str(refused.value).endswith(
        "bump the release label or set option 'release' (koji: --release, fedpkg: "
        "--build-release) to build a new NVR."
    )
