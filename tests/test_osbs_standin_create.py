"""Contract of the osbs-client 2.8 stand-in's create and names (sandbox/osbs/standins/osbs/api.py).

Each test names the osbs-client 2.8.0 function whose behaviour it pins:
OSBS.create_binary_container_pipeline_run and BuildUserParams (options,
Dockerfile labels, commits, clones), and the pipeline run names.
"""

from __future__ import annotations

import re

import pytest

from koji_containerbuild.sandbox.osbs.harness import make_source
from tests.osbs_standin_harness import create

# -- create: osbs.api.OSBS.create_binary_container_pipeline_run and BuildUserParams -------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"scratch": True, "isolated": True, "release": "1.1"},
            "Build variations are mutually exclusive",
        ),
        (
            {"signing_intent": "release", "compose_ids": [1]},
            "Please only define signing_intent -OR- compose_ids, not both",
        ),
        ({"isolated": True}, "The release parameter is required for isolated builds."),
        ({"isolated": True, "release": "6"}, "the release value must be in the format"),
        ({"yum_repourls": "https://x/y.repo"}, "yum_repourls must be a list"),
    ],
    ids=[
        "scratch-and-isolated",
        "signing-intent-and-compose-ids",
        "isolated-no-release",
        "isolated-release-6",
        "yum-repourls-not-a-list",
    ],
)
def test_create_refuses_invalid_options_with_a_validation_exception(
    osbs, fake_osbs, changes, message
):
    from osbs.exceptions import OsbsValidationException

    with pytest.raises(OsbsValidationException, match=re.escape(message)):
        create(osbs, **changes)
    assert fake_osbs.created == []


def test_isolated_release_of_the_right_format_is_accepted(osbs, fake_osbs):
    create(osbs, isolated=True, release="6.1")
    assert fake_osbs.created[0][1]["release"] == "6.1"


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM base\nLABEL name=demo/image com.redhat.component=demo-image\n", "required label"),
        ("FROM base\nLABEL name=demo/image version=1\n", "required label missing"),
        (
            "FROM base\nLABEL name=demo com.redhat.component=d version=1 release=abc\n",
            "release label doesn't have proper format",
        ),
        (
            "FROM base\nLABEL name=demo com.redhat.component=d version=1-2\n",
            "version label '1-2' contains not allowed chars",
        ),
        (
            "FROM base\nLABEL name=reg.example.com/demo com.redhat.component=d version=1\n",
            "initial image name component must not contain '.'",
        ),
    ],
    ids=["no-version", "no-component", "release-format", "version-dash", "name-dot"],
)
def test_create_checks_the_dockerfile_labels(osbs, fake_osbs, tmp_path, dockerfile, message):
    from osbs.exceptions import OsbsValidationException

    git_uri, git_ref = make_source(str(tmp_path / "repo"), {"Dockerfile": dockerfile})
    with pytest.raises(OsbsValidationException, match=re.escape(message)):
        create(osbs, git_uri=git_uri, git_ref=git_ref)
    assert fake_osbs.created == []


def test_flatpak_build_without_a_flatpak_container_yaml_is_refused(osbs, fake_osbs):
    from osbs.exceptions import OsbsException, OsbsValidationException

    with pytest.raises(
        OsbsException, match=r"doesn.t have a container\.yaml with a flatpak"
    ) as error:
        create(osbs, flatpak=True)
    assert not isinstance(
        error.value, OsbsValidationException
    )  # osbs-client raises the base class
    assert fake_osbs.created == []


def test_create_of_a_commit_the_branch_lacks_raises_commit_not_found(osbs, fake_osbs):
    from osbs.exceptions import OsbsCommitNotFound

    with pytest.raises(OsbsCommitNotFound, match="is not reachable in branch main"):
        create(osbs, git_ref="0" * 40)
    assert fake_osbs.sleeps == []


def test_create_retries_a_failed_clone_three_times(osbs, fake_osbs):
    # utils.clone_git_repo: GIT_MAX_RETRIES, GIT_BACKOFF_FACTOR
    from osbs.exceptions import OsbsException

    with pytest.raises(OsbsException, match="Unable to clone git repo"):
        create(osbs, git_branch="no-such-branch")
    assert fake_osbs.sleeps == [60, 120, 240]


def test_create_without_max_buildtime_limit_fails_with_a_type_error(osbs, fake_osbs):
    from osbs.exceptions import OsbsException

    with pytest.raises(OsbsException) as error:
        create(osbs, max_buildtime_limit=None)
    assert isinstance(error.value.cause, TypeError)


def test_source_build_needs_a_build_to_take_sources_from(fake_osbs, osbs_conf):
    from osbs.api import OSBS
    from osbs.conf import Configuration
    from osbs.exceptions import OsbsValidationException

    osbs = OSBS(Configuration(conf_file=osbs_conf, conf_section="default_source"))
    with pytest.raises(OsbsValidationException, match="must be specified"):
        osbs.create_source_container_build(component="demo-image-source")


# -- names: api._get_binary_container_pipeline_name, utils.make_name_from_git ---------------------

POSTFIX = r"\d{5}-\d{14}"


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"scratch": True}, rf"scratch-{POSTFIX}"),
        ({"isolated": True, "release": "1.1"}, rf"isolated-{POSTFIX}"),
        ({}, rf"demo-image-main-[0-9a-f]{{5}}{POSTFIX}"),
    ],
    ids=["scratch", "isolated", "normal"],
)
def test_binary_build_names(osbs, fake_osbs, changes, pattern):
    assert re.fullmatch(pattern, create(osbs, **changes))


def test_source_build_name(fake_osbs, osbs_conf):
    from osbs.api import OSBS
    from osbs.conf import Configuration

    osbs = OSBS(Configuration(conf_file=osbs_conf, conf_section="default_source"))
    run = osbs.create_source_container_build(
        component="demo-image-source", sources_for_koji_build_nvr="demo-image-1.0-1"
    )
    assert re.fullmatch(rf"source-{POSTFIX}", osbs.get_build_name(run))
