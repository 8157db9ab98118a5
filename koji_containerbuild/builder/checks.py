"""Checks a container build task makes against the hub before anything starts.

Each refusal is a koji.BuildError with one sentence the maintainer can act
on. All reads of the target and its tags happen at one hub event, so a
tag edited while the task runs cannot mix old and new settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.bounds import name_problem
from koji_containerbuild.optnames import option_name
from koji_containerbuild.targets import TargetError, dest_tag_of

logger = logging.getLogger(LOGGER_NAME + ".checks")

#: Build states whose NVR may be built again.
_REUSABLE_STATES = (koji.BUILD_STATES["FAILED"], koji.BUILD_STATES["CANCELED"])


@dataclass
class TargetInfo:
    name: str
    build_tag_id: int
    build_tag_name: str
    dest_tag_id: int
    dest_tag_name: str
    #: Canonical arches of the build tag, in tag order.
    arches: list[str]
    event_id: int


def _canon_arches(arches: str | None) -> list[str]:
    result: list[str] = []
    for arch in (arches or "").split():
        canon = koji.canonArch(arch)
        if canon not in result:
            result.append(canon)
    return result


def resolve_target(session: Any, target: str) -> TargetInfo:
    """The target with its build tag, destination tag and arches at one event."""
    problem = name_problem("target", "build target", target, "pick one from 'koji list-targets'")
    if problem:  # task args made without the hub plugin: the hub's rule, again
        raise koji.BuildError(problem)
    event_id = session.getLastEvent()["id"]
    info = session.getBuildTarget(target, event=event_id)
    if not info:
        raise koji.BuildError(
            f"Build target {target!r} does not exist; pick one listed by `koji list-targets`."
        )
    build_config = session.getBuildConfig(info["build_tag"], event=event_id)
    if not build_config:
        raise koji.BuildError(
            f"The build tag {info['build_tag_name']!r} of target {target!r} does not exist; "
            "ask a Koji admin to fix the target."
        )
    try:
        dest_tag = dest_tag_of(session, target, info, event=event_id)
    except TargetError as error:
        raise koji.BuildError(str(error)) from None
    arches = _canon_arches(build_config.get("arches"))
    if not arches:
        raise koji.BuildError(
            f"The build tag {build_config['name']!r} has no arches; ask a Koji admin to set "
            "them with `koji edit-tag --arches`."
        )
    return TargetInfo(
        name=info["name"],
        build_tag_id=build_config["id"],
        build_tag_name=build_config["name"],
        dest_tag_id=dest_tag["id"],
        dest_tag_name=dest_tag["name"],
        arches=arches,
        event_id=event_id,
    )


def select_arches(target_info: TargetInfo, opts: dict) -> list[str]:
    """The platforms to build: arch_override or the tag's arches.

    ``opts`` are normalized (options.normalize_build_opts), which already
    refuses arch_override outside scratch and isolated builds.
    """
    override = opts.get("arch_override")
    if not override:
        return list(target_info.arches)
    selected: list[str] = []
    unknown: list[str] = []
    for arch in override.split():
        canon = koji.canonArch(arch)
        if canon in target_info.arches:
            if canon not in selected:
                selected.append(canon)
        else:
            unknown.append(arch)
    if unknown or not selected:
        raise koji.BuildError(
            f"Option {option_name('arch_override')} asks for "
            f"{', '.join(unknown) or 'no arch'}, which build tag "
            f"{target_info.build_tag_name!r} does not have; use some of: "
            f"{' '.join(target_info.arches)}."
        )
    return selected


def task_owner_and_policy(session: Any, task_id: int, scratch: bool) -> tuple[dict, dict]:
    """The task owner (user info) and kojid's build_from_scm policy data."""
    taskinfo = session.getTaskInfo(task_id)
    if not taskinfo:
        raise koji.BuildError(f"Task {task_id} is unknown to the hub; it cannot be built.")
    owner = session.getUser(taskinfo["owner"])
    if not owner:
        raise koji.BuildError(f"The owner of task {task_id} is unknown to the hub.")
    channel = session.getChannel(taskinfo["channel_id"], strict=True)
    policy_data = {
        "user_id": taskinfo["owner"],
        "channel": channel["name"],
        "scratch": bool(scratch),
    }
    return owner, policy_data


def check_package_listed(session: Any, target_info: TargetInfo, component: str) -> None:
    """The component must be in the destination tag's package list and not blocked."""
    config = session.getPackageConfig(
        target_info.dest_tag_id, component, event=target_info.event_id
    )
    if not config:
        raise koji.BuildError(
            f"Package {component!r} is not in the package list of tag "
            f"{target_info.dest_tag_name!r}; ask a Koji admin to run `koji add-pkg "
            f"{target_info.dest_tag_name} {component} --owner <user>`, or make a scratch build "
            f"(option {option_name('scratch')})."
        )
    if config.get("blocked"):
        raise koji.BuildError(
            f"Package {component!r} is blocked in tag {target_info.dest_tag_name!r}; "
            "ask a Koji admin to unblock it, or make a scratch build "
            f"(option {option_name('scratch')})."
        )


def nvr_is_free(build: dict | None) -> bool:
    """Whether an NVR whose build is ``build`` (getBuild, None) may be built."""
    return not build or build["state"] in _REUSABLE_STATES


def check_nvr_free(session: Any, nvr: str) -> None:
    """No build with this NVR may exist unless it failed or was cancelled."""
    build = session.getBuild(nvr)
    if not build:
        return
    if build["state"] in _REUSABLE_STATES:
        logger.info("Build %s exists in state %s; it may be rebuilt", nvr, build["state"])
        return
    state = koji.BUILD_STATES.get(build["state"], build["state"])
    raise koji.BuildError(
        f"Build {nvr} already exists (id {build['id']}, state {state}); bump the release "
        f"label or set option {option_name('release')} to build a new NVR."
    )


def next_free_release(
    session: Any,
    name: str,
    version: str,
    base: str | None = None,
    limit: int = 10000,
    after: str | None = None,
) -> str:
    """The first release (1, 2, ... or <base>.1, <base>.2, ...) whose NVR may be built.

    Used when nothing sets a release and the plugin itself imports the
    build, which needs a definite NVR before the build starts. ``after``
    (a release this function returned) starts the search past it: that
    release was taken by another build in the meantime.
    """
    first = 1
    if after is not None:
        first = int(after.rsplit(".", 1)[-1] if base else after) + 1
    for number in range(first, limit + 1):
        release = f"{base}.{number}" if base else str(number)
        if nvr_is_free(session.getBuild(f"{name}-{version}-{release}")):
            return release
    raise koji.BuildError(
        f"No free release below {limit} for {name}-{version}; set the release label."
    )


def check_parent_build_exists(session: Any, parent_nvr: str) -> dict[str, Any]:
    """The Koji build named by koji_parent_build; refused when there is none."""
    build = session.getBuild(parent_nvr)
    if not build:
        raise koji.BuildError(
            f"koji_parent_build {parent_nvr!r} does not exist in Koji; check the NVR."
        )
    return build


def resolve_parent_image(session: Any, parent_nvr: str) -> str:
    """Pull spec of a koji_parent_build, preferring the digest form."""
    build = check_parent_build_exists(session, parent_nvr)
    if build["state"] != koji.BUILD_STATES["COMPLETE"]:
        state = koji.BUILD_STATES.get(build["state"], build["state"])
        raise koji.BuildError(
            f"koji_parent_build {parent_nvr} is in state {state}, not COMPLETE; "
            "pick a completed build."
        )
    pulls = None
    for image in _image_infos(build):
        index = image.get("index")
        pulls = index.get("pull") if isinstance(index, dict) else None
        if pulls:
            break
    if not pulls or not isinstance(pulls, list):
        raise koji.BuildError(
            f"koji_parent_build {parent_nvr} records no pull spec (extra.image.index.pull); "
            "pick a container image build made by OSBS or this plugin."
        )
    for pull in pulls:
        if isinstance(pull, str) and "@sha256:" in pull:
            return pull
    return str(pulls[0])


@dataclass
class SourceBuildInfo:
    build_id: int
    nvr: str
    name: str
    version: str
    release: str

    @property
    def component(self) -> str:
        return f"{self.name}-source"


def _image_infos(build: dict) -> list[dict]:
    """extra.image (atomic-reactor's legacy key) and extra.typeinfo.image, when dicts."""
    extra = build.get("extra") or {}
    if not isinstance(extra, dict):
        return []
    typeinfo = extra.get("typeinfo") if isinstance(extra.get("typeinfo"), dict) else {}
    return [info for info in (extra.get("image"), typeinfo.get("image")) if isinstance(info, dict)]


def _is_image_build(build: dict) -> bool:
    return bool(_image_infos(build)) or "image" in (
        (build.get("extra") or {}).get("typeinfo") or {}
    )


def _is_source_container_build(build: dict) -> bool:
    """atomic-reactor marks source container builds with sources_for_nvr and osbs_build.kind."""
    osbs_build = (build.get("extra") or {}).get("osbs_build") or {}
    return any(info.get("sources_for_nvr") for info in _image_infos(build)) or (
        isinstance(osbs_build, dict) and osbs_build.get("kind") == "source_container_build"
    )


def resolve_source_build(
    session: Any, build_id: int | None, build_nvr: str | None
) -> SourceBuildInfo:
    """The image build whose sources a source container build packages."""
    if build_id is None and not build_nvr:
        raise koji.BuildError(
            "A source container build needs koji_build_id or koji_build_nvr; pass one of them."
        )
    build = session.getBuild(build_nvr if build_nvr else build_id)
    if not build:
        raise koji.BuildError(
            f"The source build {build_nvr or build_id} does not exist in Koji; "
            "check --koji-build-id or --koji-build-nvr."
        )
    if build_id is not None and build_nvr and build["id"] != build_id:
        raise koji.BuildError(
            f"koji_build_id {build_id} and koji_build_nvr {build_nvr} (id {build['id']}) name "
            "different builds; pass one of them or make them agree."
        )
    if build["state"] != koji.BUILD_STATES["COMPLETE"]:
        state = koji.BUILD_STATES.get(build["state"], build["state"])
        raise koji.BuildError(
            f"The source build {build['nvr']} is in state {state}; pick a completed image build."
        )
    if not _is_image_build(build):
        raise koji.BuildError(
            f"Koji build {build['nvr']} is not a container image build; "
            "a source container needs an image build."
        )
    if _is_source_container_build(build):
        raise koji.BuildError(
            f"Koji build {build['nvr']} is itself a source container build; "
            "pass the image build it was made from."
        )
    return SourceBuildInfo(
        build_id=build["id"],
        nvr=build["nvr"],
        name=build["name"],
        version=build["version"],
        release=build["release"],
    )
