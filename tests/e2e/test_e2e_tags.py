"""End to end: which registry tags each kind of build moves (issue 7 item 2).

A normal build, then a scratch build and an isolated build of the same
Dockerfile, through the real koji CLI and the sandbox: the pull specs Koji
recorded for the normal build still resolve to its image, and every task's
repositories are exactly the tags the registry holds for its image.
"""

from __future__ import annotations

import json

import pytest

from koji_containerbuild.sandbox.env import runtime
from tests.e2e.test_e2e import build, dockerfile, publish, registry_tags, skopeo

pytestmark = pytest.mark.e2e

COMPONENT = "e2e-tags"
REPOSITORY = f"e2e/{COMPONENT}"


def digest_of(pull_spec: str) -> str:
    inspected = skopeo("inspect", f"docker://{pull_spec}")
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)["Digest"]


def tags_in(repositories: list[str]) -> set[str]:
    return {spec.rsplit(":", 1)[1] for spec in repositories if "@" not in spec}


def digest_in(repositories: list[str]) -> str:
    (by_digest,) = [spec for spec in repositories if "@" in spec]
    return by_digest.split("@", 1)[1]


def registry_tags_by_digest(sandbox) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for tag in registry_tags(sandbox, REPOSITORY):
        digest = digest_of(f"{sandbox.registry_address}/{REPOSITORY}:{tag}")
        found.setdefault(digest, set()).add(tag)
    return found


@pytest.fixture(scope="session")
def three_builds(sandbox, tmp_path_factory):
    """Task results of a normal, a scratch and an isolated build of one Dockerfile."""
    tmp_path = tmp_path_factory.mktemp("tags")
    (tmp_path / COMPONENT).mkdir()
    (tmp_path / COMPONENT / "additional-tags").write_text("stable\n")
    url = publish(sandbox, tmp_path, COMPONENT, dockerfile(COMPONENT, "1", "echo tags > /tags"))
    results = {}
    for kind, extra in (
        ("normal", ()),
        ("scratch", ("--scratch",)),
        ("isolated", ("--isolated", "--release", "1.1")),
    ):
        done, task_id = build(sandbox, url, *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        results[kind] = sandbox.session(runtime.USER).getTaskResult(task_id)
    return results


def test_pull_specs_of_the_normal_build_still_resolve_to_its_image(session, three_builds):
    normal = three_builds["normal"]
    build_info = session.getBuild(int(normal["koji_builds"][0]))
    assert build_info["nvr"] == f"{COMPONENT}-1.0-1"
    pull_specs = build_info["extra"]["image"]["index"]["pull"]
    assert any(spec.endswith(":1.0-1") for spec in pull_specs), pull_specs
    expected = digest_in(normal["repositories"])
    assert {spec: digest_of(spec) for spec in pull_specs} == dict.fromkeys(pull_specs, expected)


def test_every_task_lists_exactly_the_tags_the_registry_holds_for_its_image(sandbox, three_builds):
    by_digest = registry_tags_by_digest(sandbox)
    for result in three_builds.values():
        assert by_digest[digest_in(result["repositories"])] == tags_in(result["repositories"])


FLOATING = {"latest", "1.0", "stable"}


def test_normal_build_moves_version_release_and_the_floating_tags(three_builds):
    tags = tags_in(three_builds["normal"]["repositories"])
    (unique,) = tags - FLOATING - {"1.0-1"}
    assert unique.startswith("1.0-1-")


def test_scratch_build_is_pushed_under_its_unique_tag_only(three_builds):
    (unique,) = tags_in(three_builds["scratch"]["repositories"])
    assert unique.startswith("1.0-1-")
    assert unique not in tags_in(three_builds["normal"]["repositories"])


def test_isolated_build_gets_its_version_release_and_no_floating_tag(three_builds):
    tags = tags_in(three_builds["isolated"]["repositories"])
    (unique,) = tags - {"1.0-1.1"}
    assert unique.startswith("1.0-1.1-")
