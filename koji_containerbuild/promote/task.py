"""The builder's promoteContainer flow: check, copy by digest, sign, verify, then tag.

Nothing unsigned ever carries a tag in production: the image is pushed by
digest (no tag), signed for every tag it will carry, checked the way a client
checks it, and only then tagged. A promotion that fails after its push deletes
the untagged manifest again (docker-distribution cannot delete only a tag).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.config import BuilderConfig, load_builder_config
from koji_containerbuild.configvalues import ConfigError
from koji_containerbuild.promote.hubside import is_image_build
from koji_containerbuild.promote.registry import PromoteError, Registries
from koji_containerbuild.promote.signing import signer_for
from koji_containerbuild.promoteconfig import PromotionRule, check_promotion_rule

log = logging.getLogger(LOGGER_NAME + ".promote.task")

_RULE_KEYS = ("tag", "registry", "signing_identity", "repository_prefix", "floating_tags")


def rule_from_task(rule: Any) -> PromotionRule:
    """The rule the task carries, checked as the hub plugin's config would be."""
    if not isinstance(rule, dict) or set(rule) - set(_RULE_KEYS):
        raise koji.ParameterError(
            "promoteContainer's rule must be a struct with the keys " + ", ".join(_RULE_KEYS) + "."
        )
    try:
        return check_promotion_rule(rule)
    except ConfigError as error:
        raise koji.ParameterError(str(error)) from None


def candidate_of(build: dict) -> tuple[str, str]:
    """(repository, digest) of the build's candidate image, from extra.image.index."""
    index = ((build.get("extra") or {}).get("image") or {}).get("index") or {}
    by_digest = [spec for spec in index.get("pull") or [] if isinstance(spec, str) and "@" in spec]
    if not by_digest:
        raise koji.BuildError(
            f"Build {build['nvr']} records no candidate pull spec by digest "
            "(extra.image.index.pull): it cannot be promoted."
        )
    repository, digest = by_digest[0].split("@", 1)
    return repository, digest


def check_build(session: Any, build_id: Any) -> dict:
    """The Koji build to promote: COMPLETE and an image build, else one sentence."""
    build = session.getBuild(build_id)
    if build is None:
        raise koji.BuildError(
            f"No Koji build {build_id}: only Koji builds are promoted (scratch builds are not "
            "Koji builds; build without --scratch)."
        )
    state = koji.BUILD_STATES[build["state"]]
    if state != "COMPLETE":
        raise koji.BuildError(
            f"Build {build['nvr']} is {state}: only COMPLETE builds are promoted."
        )
    if not is_image_build(build):
        raise koji.BuildError(f"Build {build['nvr']} is not a container image build.")
    return build


def promote_container(ctx: Any, build_id: Any, tag: Any, rule: Any, config=None) -> dict:
    """Promote build ``build_id`` (tagged into ``tag``) as ``rule`` says; the task result."""
    rule = rule_from_task(rule)
    if tag != rule.tag:
        raise koji.ParameterError(f"The rule is for tag {rule.tag!r}, not {tag!r}.")
    config = config or _builder_config()
    build = check_build(ctx.session, build_id)
    candidate, digest = candidate_of(build)
    registries = Registries(config.promote, os.path.join(ctx.workdir, "promote"))
    try:
        signer = signer_for(config.signers, rule.signing_identity)
        return _promote(registries, signer, rule, build, candidate, digest)
    except PromoteError as error:
        raise koji.BuildError(str(error)) from None


def _builder_config() -> BuilderConfig:
    try:
        return load_builder_config()
    except ConfigError as error:
        raise koji.BuildError(f"The builder plugin configuration is invalid: {error}") from None


def _promote(registries, signer, rule, build, candidate, digest) -> dict:
    version_release = f"{build['version']}-{build['release']}"
    served = registries.manifest_digest(f"{candidate}:{version_release}")
    if served != digest:
        raise PromoteError(
            f"Build {build['nvr']} records {candidate}@{digest} but the candidate registry "
            + (f"serves {served}" if served else "no longer has it")
            + f" under {version_release}: the record or the registry was changed, so it is "
            "not promoted."
        )
    path = candidate.split("/", 1)[1] if "/" in candidate else candidate
    production = rule.production_repository(path)
    tags = [version_release] + [t for t in rule.floating_tags if t != version_release]
    present = registries.manifest_digest(f"{production}@{digest}") is not None
    to_tag = [t for t in tags if registries.manifest_digest(f"{production}:{t}") != digest]
    log.info("promoting %s@%s to %s (copy: %s, tags: %s)", candidate, digest, production,
             not present, to_tag)  # fmt: skip
    try:
        if not present:
            registries.copy(f"{candidate}@{digest}", f"{production}@{digest}")
        for image_tag in to_tag:
            signer.sign(registries, production, digest, f"{production}:{image_tag}")
        refused = registries.verify(f"{production}@{digest}")
        if refused:
            raise PromoteError(
                f"The signature of {production}@{digest} is not accepted by the builder's "
                f"policy.json ({refused}): check [promote] policy and the signer's key."
            )
    except PromoteError:
        if not present:
            _withdraw(registries, production, digest)
        raise
    for image_tag in to_tag:
        registries.copy(f"{production}@{digest}", f"{production}:{image_tag}")
    return {
        "pull_specs": [f"{production}@{digest}"] + [f"{production}:{t}" for t in tags],
        "digest": digest,
        "copied": not present,
        "signer": signer.describe(),
    }


def _withdraw(registries: Registries, repository: str, digest: str) -> None:
    """Delete the untagged manifest a failed promotion pushed, unless a tag points at it."""
    try:
        for image_tag in registries.tags(repository):
            if registries.manifest_digest(f"{repository}:{image_tag}") == digest:
                return
        registries.delete(f"{repository}@{digest}")
    except PromoteError:
        log.warning("could not withdraw %s@%s after a failed promotion", repository, digest,
                    exc_info=True)  # fmt: skip
