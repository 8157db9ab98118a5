"""The OSBS backend against the osbs-client 2.8 stand-in (koji_containerbuild.sandbox.osbs)."""

from __future__ import annotations

import re
import sys

import pytest

from koji_containerbuild.backends.base import BackendError, Outcome
from koji_containerbuild.config import OsbsSettings
from koji_containerbuild.sandbox.osbs.harness import (
    binary_request,
    make_backend,
    make_source,
    source_request,
)

# -- creating builds ---------------------------------------------------------


FLATPAK_CONTAINER_YAML = "flatpak:\n  id: org.example.Demo\n"


def test_binary_build_gets_every_option(backend, fake_osbs, tmp_path):
    git_uri, git_ref = make_source(
        str(tmp_path / "demo-app"), {"container.yaml": FLATPAK_CONTAINER_YAML}
    )
    opts = {
        "git_branch": "main",
        "release": "3.1",
        "koji_parent_build": "base-1-1",
        "yum_repourls": ["https://repo.example.com/x.repo"],
        "dependency_replacements": ["gomod:foo:v1"],
        "userdata": {"ci": "yes"},
        "operator_csv_modifications_url": "https://example.com/mods.json",
    }
    request = binary_request(
        isolated=True, flatpak=True, git_uri=git_uri, git_ref=git_ref, opts=opts
    )
    handle = backend.start(request)
    kind, arguments = fake_osbs.created[0]
    assert kind == "binary"
    assert handle in fake_osbs.runs
    assert arguments == {
        "git_uri": git_uri,
        "git_ref": git_ref,
        "git_branch": "main",
        "component": "demo-image",
        "flatpak": True,
        "git_commit_depth": None,
        "isolated": True,
        "koji_task_id": 4321,
        "target": "demo",
        "operator_csv_modifications_url": "https://example.com/mods.json",
        "platforms": ["x86_64", "aarch64"],
        "scratch": False,
        "user": "alice",
        "default_buildtime_limit": 3600,
        "max_buildtime_limit": 7200,
        "release": "3.1",
        "koji_parent_build": "base-1-1",
        "yum_repourls": ["https://repo.example.com/x.repo"],
        "dependency_replacements": ["gomod:foo:v1"],
        "userdata": {"ci": "yes"},
    }


def test_scratch_build_passes_compose_ids(backend, fake_osbs):
    backend.start(binary_request(scratch=True, opts={"git_branch": "main", "compose_ids": [1, 2]}))
    arguments = fake_osbs.created[0][1]
    assert arguments["scratch"] is True
    assert arguments["compose_ids"] == [1, 2]
    assert "operator_csv_modifications_url" in arguments  # the real signature's default
    assert arguments["operator_csv_modifications_url"] is None


def test_build_passes_signing_intent(backend, fake_osbs):
    backend.start(binary_request(opts={"git_branch": "main", "signing_intent": "release"}))
    assert fake_osbs.created[0][1]["signing_intent"] == "release"


def test_configuration_comes_from_the_configured_file_and_sections(
    backend,
    fake_osbs,
    osbs_conf,
):
    backend.start(binary_request())
    backend.start(source_request())
    sections = [(conf.conf_file, conf.conf_section) for conf in fake_osbs.configurations]
    assert sections == [(osbs_conf, "default_binary"), (osbs_conf, "default_source")]


def test_source_build_arguments(backend, fake_osbs):
    backend.start(source_request(scratch=True))
    kind, arguments = fake_osbs.created[0]
    assert kind == "source"
    assert arguments == {
        "component": "demo-image-source",
        "koji_task_id": 4322,
        "target": "demo",
        "sources_for_koji_build_nvr": "demo-image-1.0-1",
        "sources_for_koji_build_id": 77,
        "scratch": True,
        "user": "alice",
        "signing_intent": "release",
        "userdata": {"a": 1},
    }


def test_validation_error_becomes_a_sentence(backend, fake_osbs):
    with pytest.raises(BackendError, match="OSBS refused the build: The release parameter"):
        backend.start(binary_request(isolated=True))
    assert fake_osbs.created == []


def test_other_create_error_is_not_retried(backend, fake_osbs, clock):
    fake_osbs.fail("create_binary_container_build", ValueError("bad git repo"))
    with pytest.raises(BackendError, match="could not start the build: bad git repo"):
        backend.start(binary_request())
    assert clock.sleeps == []


def test_backend_is_found_by_its_config_name(fake_osbs, osbs_conf):
    from koji_containerbuild.backends import create_backend

    backend = create_backend("osbs", OsbsSettings(conf_file=osbs_conf))
    assert backend.name == "osbs"
    assert backend.imports_builds is True


def test_missing_osbs_client_says_which_package_to_install(monkeypatch, osbs_conf):
    monkeypatch.setitem(sys.modules, "osbs", None)
    from koji_containerbuild.backends import create_backend

    with pytest.raises(BackendError, match="install the osbs-client package"):
        create_backend("osbs", OsbsSettings(conf_file=osbs_conf))


# -- outcomes --------------------------------------------------------------------


def test_success_reports_all_repositories_build_id_and_platforms(backend, fake_osbs):
    fake_osbs.script(
        results={
            "repositories": {
                "primary": ["reg/demo:1.0-1"],
                "unique": ["reg/demo:unique-1"],
                "floating": ["reg/demo:latest", "reg/demo:1.0-1"],
            },
            "koji-build-id": 1234,
            "platforms_result": {"platforms": ["x86_64", "s390x"]},
        }
    )
    handle = backend.start(binary_request())
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.repositories == ["reg/demo:1.0-1", "reg/demo:unique-1", "reg/demo:latest"]
    assert result.koji_build_id == 1234
    assert result.platforms == ["x86_64", "s390x"]
    assert result.build_name == handle


def test_scratch_success_has_no_koji_build(backend, fake_osbs):
    fake_osbs.script(results={"repositories": {"primary": [], "unique": ["reg/x:u"]}})
    result = backend.wait(backend.start(binary_request(scratch=True)))
    assert result.koji_build_id is None
    assert result.repositories == ["reg/x:u"]


def test_failure_carries_the_osbs_error_and_build_name(backend, fake_osbs):
    fake_osbs.script(state="Failed", error_message="Error in plugin check_base_image: nope;\n")
    handle = backend.start(binary_request())
    result = backend.wait(handle)
    assert result.outcome is Outcome.FAILED
    assert result.reason == "Error in plugin check_base_image: nope"
    assert result.build_name == handle


def running_script(**changes):
    from fake_pipelinerun import BuildScript, Pause

    return BuildScript(tasks={"binary-container-build-x86-64": ["step 1", Pause()]}, **changes)


@pytest.mark.parametrize("reason", ["PipelineRunCancelled", "Cancelled"])
def test_cancel_is_reported_as_cancelled_after_cancelled_run_finally(backend, fake_osbs, reason):
    fake_osbs.script(running_script(cancel_reason=reason))
    handle = backend.start(binary_request())
    backend.cancel(handle)
    assert fake_osbs.cancelled == [handle]
    result = backend.wait(handle)
    assert result.outcome is Outcome.CANCELLED
    assert fake_osbs.runs[handle].reason == reason


def test_build_cancelled_in_osbs_is_reported_as_cancelled(backend, fake_osbs):
    fake_osbs.script(state="PipelineRunCancelled")
    handle = backend.start(binary_request())
    assert backend.wait(handle).outcome is Outcome.CANCELLED


def test_wait_returns_once_the_cancelled_run_has_finished(backend, fake_osbs):
    fake_osbs.script(running_script(finally_seconds=12))
    handle = backend.start(binary_request())
    backend.cancel(handle)
    backend.wait(handle)
    # osbs-client's 5 s polls through the 12 s of CancelledRunFinally
    assert fake_osbs.sleeps == [5, 5, 5]


def test_cancel_of_a_build_that_is_gone_is_harmless(backend, fake_osbs):
    backend.cancel("nonexistent-build")
    assert fake_osbs.cancelled == []


def test_finished_build_is_removed_when_configured(fake_osbs, osbs_conf, clock):
    backend = make_backend(osbs_conf, clock, remove_finished_builds=True)
    handle = backend.start(binary_request())
    backend.wait(handle)
    backend.cleanup(handle)
    assert fake_osbs.removed == [handle]
    assert backend.lookup(handle) is False


def test_finished_build_is_kept_by_default(backend, fake_osbs):
    handle = backend.start(binary_request())
    backend.wait(handle)
    backend.cleanup(handle)
    assert fake_osbs.removed == []
    assert backend.lookup(handle) is True


def test_lookup_of_a_build_created_before_a_restart(backend, fake_osbs):
    from fake_pipelinerun import BuildScript

    fake_osbs.add_run("demo-image-old", BuildScript(tasks={"t": ["done"]}))
    assert backend.lookup("demo-image-old") is True
    assert backend.lookup("never-existed") is False
    assert fake_osbs.created == []


def test_reattached_binary_build_named_like_a_source_build_uses_the_binary_section(
    backend, fake_osbs, osbs_conf
):
    from fake_pipelinerun import BuildScript

    fake_osbs.add_run("source-highlight-0001", BuildScript(tasks={"t": ["done"]}))
    request = binary_request(component="source-highlight")
    assert backend.reattach("source-highlight-0001", request) is True
    assert backend.wait("source-highlight-0001").outcome is Outcome.SUCCEEDED
    sections = {conf.conf_section for conf in fake_osbs.configurations}
    assert sections == {"default_binary"}


def test_reattached_source_build_uses_the_source_section(backend, fake_osbs, osbs_conf):
    from fake_pipelinerun import BuildScript

    fake_osbs.add_run("source-0001", BuildScript(tasks={"t": ["done"]}), kind="source")
    assert backend.reattach("source-0001", source_request()) is True
    sections = {conf.conf_section for conf in fake_osbs.configurations}
    assert sections == {"default_source"}


# -- what OSBS refuses at create time becomes one sentence -------------------------------------


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"isolated": True, "opts": {"git_branch": "main", "release": "6"}},
            r"OSBS refused the build: For isolated builds, the release value must be in the "
            r"format: \^\\d\+\\\.\\d\+\(\\\.\.\+\)\?\$; correct it and submit the build again\.",
        ),
        (
            {"opts": {"git_branch": "main", "signing_intent": "release", "compose_ids": [1]}},
            r"OSBS refused the build: Please only define signing_intent -OR- compose_ids, not "
            r"both; correct it and submit the build again\.",
        ),
        (
            {"scratch": True, "isolated": True, "opts": {"git_branch": "main", "release": "1.1"}},
            r"OSBS refused the build: Build variations are mutually exclusive\. Must set either "
            r"scratch, isolated, or none; correct it and submit the build again\.",
        ),
    ],
    ids=["isolated-release", "signing-intent-and-compose-ids", "scratch-and-isolated"],
)
def test_refused_create_is_one_sentence(backend, fake_osbs, changes, sentence):
    with pytest.raises(BackendError) as error:
        backend.start(binary_request(**changes))
    assert re.fullmatch(sentence, str(error.value))
    assert fake_osbs.created == []


def test_missing_dockerfile_labels_are_one_sentence(backend, fake_osbs, tmp_path):
    git_uri, git_ref = make_source(str(tmp_path / "repo"), {"Dockerfile": "FROM base\n"})
    with pytest.raises(BackendError) as error:
        backend.start(binary_request(git_uri=git_uri, git_ref=git_ref))
    assert str(error.value) == (
        "OSBS refused the build: required label missing from Dockerfile; "
        "correct it and submit the build again."
    )


def test_flatpak_build_of_a_repository_without_flatpak_section_is_one_sentence(backend, fake_osbs):
    with pytest.raises(BackendError) as error:
        backend.start(binary_request(flatpak=True))
    assert str(error.value) == (
        "OSBS could not start the build: Flatpak build, but repository doesn't have a "
        "container.yaml with a flatpak: section."
    )


def test_unknown_commit_is_one_sentence(backend, fake_osbs):
    with pytest.raises(BackendError) as error:
        backend.start(binary_request(git_ref="f" * 40))
    assert str(error.value).startswith(
        f"OSBS could not start the build: Commit {'f' * 40} is not reachable in branch main"
    )
    assert "\n" not in str(error.value)
