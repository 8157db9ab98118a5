"""The promoteContainer flow against real registries, skopeo and a throwaway GPG key."""

from __future__ import annotations

import uuid

import koji
import pytest

from koji_containerbuild.builder.context import TaskContext
from koji_containerbuild.promote.task import promote_container
from tests.builder_harness import import_image_build
from tests.promote_fixture import copy_image, lookaside_files

RULE = {
    "tag": "demo-stable",
    "registry": "",
    "signing_identity": "sandbox",
    "repository_prefix": "released",
    "floating_tags": ["latest"],
}


@pytest.fixture
def candidate(registry, base_image, sandbox_hub, tmp_path):
    """A Koji build whose candidate image is in the session registry under version-release."""
    repository = f"{registry}/cand-{uuid.uuid4().hex[:8]}/demo-image"
    digest = copy_image(base_image, f"{repository}:1.0-1")
    index = {"pull": [f"{repository}@{digest}", f"{repository}:1.0-1"]}
    build = import_image_build(sandbox_hub, str(tmp_path / "b"), "demo-image-1.0-1",
                               {"index": index})  # fmt: skip
    return {"build": build, "repository": repository, "digest": digest}


def promote(sandbox_hub, production, tmp_path, build, rule=None):
    rule = dict(rule or RULE, registry=production.address)
    ctx = TaskContext(task_id=1, session=sandbox_hub.session("builder"), options=None,
                      workdir=str(tmp_path / "work"), upload_dir="tasks/1/1")  # fmt: skip
    return promote_container(ctx, build["id"], rule["tag"], rule, config=production.config)


def production_repository(production, candidate) -> str:
    path = candidate["repository"].split("/", 1)[1]
    return f"{production.address}/released/{path}"


def test_promotion_tags_version_release_and_floating_tags_in_production(
    sandbox_hub, production, tmp_path, candidate
):
    promote(sandbox_hub, production, tmp_path, candidate["build"])
    repository = production_repository(production, candidate)
    assert production.tags(repository) == ["1.0-1", "latest"]


def test_promotion_result_lists_pull_specs_and_key_fingerprint(
    sandbox_hub, production, tmp_path, candidate, signing_keys
):
    result = promote(sandbox_hub, production, tmp_path, candidate["build"])
    repository = production_repository(production, candidate)
    digest = candidate["digest"]
    assert result == {
        "pull_specs": [f"{repository}@{digest}", f"{repository}:1.0-1", f"{repository}:latest"],
        "digest": digest,
        "copied": True,
        "signer": {"type": "simple", "fingerprint": signing_keys.builder_fpr},
    }


@pytest.mark.parametrize("tag", ["1.0-1", "latest"])
def test_promoted_tag_passes_a_signed_by_policy_pull(
    sandbox_hub, production, tmp_path, candidate, tag
):
    promote(sandbox_hub, production, tmp_path, candidate["build"])
    pull = production_repository(production, candidate) + f":{tag}"
    result = production.skopeo(
        "copy", "--src-tls-verify=false", f"docker://{pull}", f"dir:{tmp_path / 'pulled'}"
    )
    assert result.returncode == 0, result.stderr


def test_image_signed_by_another_key_is_refused_by_the_policy(
    production, tmp_path, base_image, signing_keys
):
    accept = tmp_path / "accept.json"
    accept.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    other = f"{production.address}/other/app:1"
    signed = production.skopeo(
        "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
        "--sign-by", signing_keys.other_fpr, f"docker://{base_image}", f"docker://{other}",
        policy=str(accept), gpg_home=signing_keys.other_home,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    result = production.skopeo(
        "copy", "--src-tls-verify=false", f"docker://{other}", f"dir:{tmp_path / 'pulled'}"
    )
    assert "Invalid GPG signature" in result.stderr


def test_candidate_changed_since_the_record_is_refused_and_nothing_is_pushed(
    sandbox_hub, production, tmp_path, candidate, base_image
):
    changed = copy_image(base_image, f"{candidate['repository']}:1.0-1", "--format", "oci")
    assert changed != candidate["digest"]
    with pytest.raises(koji.BuildError, match="the record or the registry was changed"):
        promote(sandbox_hub, production, tmp_path, candidate["build"])
    assert production.tags(production_repository(production, candidate)) == []


def test_production_registry_down_fails_the_task_and_leaves_no_tag(
    sandbox_hub, production, tmp_path, candidate
):
    production.registry.stop()
    with pytest.raises(koji.BuildError, match="connection refused"):
        promote(sandbox_hub, production, tmp_path, candidate["build"])
    production.registry.start()
    assert production.tags(production_repository(production, candidate)) == []


def test_signature_the_policy_refuses_fails_and_leaves_no_tag_nor_manifest(
    sandbox_hub, production, tmp_path, candidate, signing_keys
):
    from koji_containerbuild.sandbox.env import signing

    other_public = signing.export_public_key(
        signing_keys.other_home, signing_keys.other_fpr, str(tmp_path / "other.asc")
    )
    signing.write_policy(production.policy, production.address, other_public)
    with pytest.raises(koji.BuildError, match=r"is not accepted by the builder's policy\.json"):
        promote(sandbox_hub, production, tmp_path, candidate["build"])
    repository = production_repository(production, candidate)
    probe = production.skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{repository}@{candidate['digest']}")  # fmt: skip
    assert (production.tags(repository), probe.returncode) == ([], 1)


def test_tagging_again_copies_nothing_and_adds_no_signature(
    sandbox_hub, production, tmp_path, candidate
):
    promote(sandbox_hub, production, tmp_path, candidate["build"])
    signatures = lookaside_files(production)
    again = promote(sandbox_hub, production, tmp_path, candidate["build"])
    assert (again["copied"], lookaside_files(production)) == (False, signatures)


def test_tagging_again_rechecks_the_signature(
    sandbox_hub, production, tmp_path, candidate, signing_keys
):
    promote(sandbox_hub, production, tmp_path, candidate["build"])
    for path in lookaside_files(production):
        with open(path, "wb") as handle:
            handle.write(b"not a signature")
    with pytest.raises(koji.BuildError, match=r"is not accepted by the builder's policy\.json"):
        promote(sandbox_hub, production, tmp_path, candidate["build"])


def test_a_build_that_is_not_in_koji_cannot_be_promoted(sandbox_hub, production, tmp_path):
    with pytest.raises(koji.BuildError, match="scratch builds are not Koji builds"):
        promote(sandbox_hub, production, tmp_path, {"id": 999})


def test_a_build_that_is_not_an_image_cannot_be_promoted(sandbox_hub, production, tmp_path):
    build = import_image_build(sandbox_hub, str(tmp_path / "b"), "demo-image-9-1", None)
    with pytest.raises(koji.BuildError, match="is not a container image build"):
        promote(sandbox_hub, production, tmp_path, build)


def test_a_signer_the_builder_does_not_hold_is_named(sandbox_hub, production, tmp_path, candidate):
    rule = dict(RULE, signing_identity="release-2027")
    with pytest.raises(koji.BuildError, match=r"add \[signer:release-2027\]"):
        promote(sandbox_hub, production, tmp_path, candidate["build"], rule)


def test_a_rule_with_a_bad_floating_tag_is_refused(sandbox_hub, production, tmp_path, candidate):
    rule = dict(RULE, floating_tags=["-bad"])
    with pytest.raises(koji.ParameterError, match="floating_tags"):
        promote(sandbox_hub, production, tmp_path, candidate["build"], rule)


@pytest.fixture
def candidate_list(registry, base_image, image_storage, sandbox_hub, tmp_path):
    """A build whose candidate is a manifest list (two arches) in the session registry."""
    import hashlib
    import subprocess

    repository = f"{registry}/cand-{uuid.uuid4().hex[:8]}/demo-multi"
    name = f"localhost/list-{uuid.uuid4().hex[:8]}"
    run = lambda *args: subprocess.run(  # noqa: E731
        image_storage.buildah(*args), check=True, capture_output=True, timeout=120
    )
    run("manifest", "create", name)
    # two different manifests (the same layers as docker and as OCI), one per arch
    variant = f"{repository}-oci:1"
    copy_image(base_image, variant, "--format", "oci")
    for arch, image in (("amd64", base_image), ("arm64", variant)):
        run("manifest", "add", "--tls-verify=false", "--arch", arch, name, f"docker://{image}")
    run("manifest", "push", "--all", "--tls-verify=false", name, f"docker://{repository}:2.0-1")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{repository}:2.0-1"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    index = {"pull": [f"{repository}@{digest}", f"{repository}:2.0-1"]}
    build = import_image_build(sandbox_hub, str(tmp_path / "b"), "demo-multi-2.0-1",
                               {"index": index})  # fmt: skip
    return {"build": build, "repository": repository, "digest": digest}


def test_manifest_list_is_promoted_whole_and_its_signature_accepted(
    sandbox_hub, production, tmp_path, candidate_list
):
    sandbox_hub.add_package("demo-candidate", "demo-multi", "alice")
    result = promote(sandbox_hub, production, tmp_path, candidate_list["build"])
    pull = result["pull_specs"][1]
    raw = production.skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{pull}")
    check = production.skopeo(
        "copy", "--all", "--src-tls-verify=false", f"docker://{pull}", f"dir:{tmp_path / 'p'}"
    )
    assert (raw.stdout.count('"architecture"'), check.returncode) == (2, 0), check.stderr
