"""Builds the plugin imports are tagged into the target's destination tag.

The task flow runs the real builder plugin against the sandbox hub with a
small backend that reports one image (see test_builder_cg); the tagging is
the hub's host.tagBuild with its tag policy, package list and tag lock.
"""

import koji
import pytest

from koji_containerbuild.backends.base import BuildResult, Outcome
from koji_containerbuild.builder import run as taskrun
from tests import test_builder_cg as cg_tests
from tests.builder_harness import DOCKERFILE

NVR = cg_tests.NVR
OPTS = cg_tests.OPTS
# the fixtures of the CG import tests: the real builder plugin, a one-image backend
kojid = cg_tests.kojid
backend = cg_tests.backend
source = cg_tests.source


def tagged_nvrs(hub, tag="demo-candidate"):
    return [b["nvr"] for b in hub.session("alice").listTagged(tag)]


def test_imported_build_is_tagged_into_the_destination_tag(kojid, backend, source, sandbox_hub):
    kojid.run(kojid.submit(source, OPTS))
    assert tagged_nvrs(sandbox_hub) == [NVR]


def test_tag_policy_runs_as_the_task_owner(kojid, backend, source, sandbox_hub):
    sandbox_hub.set_policy("tag", "user alice :: allow\nall :: deny not alice")
    kojid.run(kojid.submit(source, OPTS))
    assert tagged_nvrs(sandbox_hub) == [NVR]


def test_tag_policy_refusal_fails_the_task_with_the_hub_sentence(
    kojid, backend, source, sandbox_hub
):
    sandbox_hub.set_policy("tag", "has_perm admin :: allow\nall :: deny only admins tag here")
    with pytest.raises(koji.BuildError, match=r"policy violation \(tag\): only admins tag here"):
        kojid.run(kojid.submit(source, OPTS))


def test_tag_refusal_leaves_the_build_imported_and_untagged(kojid, backend, source, sandbox_hub):
    sandbox_hub.set_policy("tag", "all :: deny no tagging today")
    with pytest.raises(koji.BuildError):
        kojid.run(kojid.submit(source, OPTS))
    assert koji.BUILD_STATES[kojid.session.getBuild(NVR)["state"]] == "COMPLETE"
    assert tagged_nvrs(sandbox_hub) == []


def test_destination_tag_permission_is_checked_for_the_task_owner(
    kojid, backend, git_sources, sandbox_hub
):
    sandbox_hub.grant("admin", "candidate-tagger")
    sandbox_hub.add_tag("guarded-candidate", arches=None, perm="candidate-tagger")
    sandbox_hub.add_target("guarded", "demo-build", "guarded-candidate")
    sandbox_hub.add_package("guarded-candidate", "demo-image", "alice")
    src = git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})
    task_id = sandbox_hub.session("alice").buildContainer(src, "guarded", OPTS)
    with pytest.raises(koji.BuildError, match="tag requires candidate-tagger permission"):
        kojid.run(task_id)


class ImportingBackend(cg_tests.ImageBuildingBackend):
    """Like OSBS: the backend imported the build itself and returns its id."""

    imports_builds = True

    def wait(self, handle):
        return BuildResult(
            Outcome.SUCCEEDED, koji_build_id=self.build_id, build_name=handle, platforms=["x86_64"]
        )


def test_build_imported_by_the_backend_is_not_tagged_by_the_plugin(
    kojid, source, sandbox_hub, monkeypatch, tmp_path
):
    from tests.builder_harness import import_image_build

    build = import_image_build(sandbox_hub, str(tmp_path / "imp"), "demo-image-1.0-9", {})
    fake = ImportingBackend(str(tmp_path), kojid.session)
    fake.build_id = build["id"]
    monkeypatch.setattr(taskrun, "create_backend", lambda name, settings: fake)
    result = kojid.run(kojid.submit(source, OPTS))
    assert result["koji_builds"] == [str(build["id"])]
    assert tagged_nvrs(sandbox_hub) == []
