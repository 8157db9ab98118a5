"""The buildContainer and buildSourceContainer task flow on the builder.

validate -> resolve target -> checks -> start or re-attach -> stream logs
-> wait -> CG import when the backend does not import -> result. The
builder plugin's task handlers call :func:`build_container` and
:func:`build_source_container`; this module turns task arguments into a
checked :class:`~koji_containerbuild.backends.base.BuildRequest`, and
:mod:`koji_containerbuild.builder.run` drives the backend.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import BuildRequest
from koji_containerbuild.builder import arch as archbuild
from koji_containerbuild.builder import checks, multiarch
from koji_containerbuild.builder import run as taskrun
from koji_containerbuild.builder.cancel import CancelWatch
from koji_containerbuild.builder.context import PreparedBuild, TaskContext
from koji_containerbuild.image.labels import LabelError, read_image_labels
from koji_containerbuild.image.sourcefiles import SourceFileError, check_source_files
from koji_containerbuild.options import OptionsError, normalize_build_opts, normalize_source_opts
from koji_containerbuild.source import SourceError, check_scm_url, checkout

logger = logging.getLogger(LOGGER_NAME + ".builder")


def _callbacks(ctx: TaskContext, name: str, **kwargs: Any) -> None:
    if ctx.run_callbacks is not None:
        ctx.run_callbacks(name, **kwargs)


def _scm_facts(url: str) -> tuple[dict, str, str, str]:
    """SCM info for kojid's callbacks, git_uri (no 'git+'), revision, repo component."""
    from koji.daemon import SCM

    scm = SCM(url)
    scheme = scm.scheme.split("+", 1)[1] if "+" in scm.scheme else scm.scheme
    base = os.path.basename(scm.repository.rstrip("/"))
    component = base[:-4] if base.endswith(".git") else base
    return scm.get_info(), f"{scheme}{scm.host}{scm.repository}", scm.revision, component


def prepare_binary_build(ctx: TaskContext, src: str, target: str, opts: Any) -> PreparedBuild:
    """Checks 1-5 of a buildContainer task except the NVR (see taskrun)."""
    try:
        # The URL first: nothing below (kojid's SCM callbacks included) parses a bad one.
        check_scm_url(src)
    except SourceError as error:
        raise koji.BuildError(str(error)) from None
    try:
        opts = normalize_build_opts(opts)
    except OptionsError as error:
        raise koji.BuildError(f"Invalid build options: {error}") from None
    target_info = checks.resolve_target(ctx.session, target)
    platforms = checks.select_arches(target_info, opts)
    scratch = bool(opts.get("scratch"))
    owner, policy_data = checks.task_owner_and_policy(ctx.session, ctx.task_id, scratch)

    scm_dir = os.path.join(ctx.workdir, "source")
    os.makedirs(scm_dir, exist_ok=True)
    logfile = os.path.join(ctx.workdir, "checkout.log")
    scminfo, git_uri, git_ref, repo_component = _scm_facts(src)
    _callbacks(
        ctx, "preSCMCheckout", scminfo=scminfo, build_tag=target_info.build_tag_id, scratch=scratch
    )
    try:
        source_dir = checkout(
            src, scm_dir, ctx.session, ctx.upload_dir, logfile, ctx.options, policy_data
        )
    except SourceError as error:
        raise koji.BuildError(str(error)) from None
    _callbacks(
        ctx,
        "postSCMCheckout",
        scminfo=scminfo,
        build_tag=target_info.build_tag_id,
        scratch=scratch,
        srcdir=source_dir,
    )
    try:
        # the files the builder, buildah or OSBS read must not lead out of the checkout
        check_source_files(source_dir)
    except SourceFileError as error:
        raise koji.BuildError(str(error)) from None

    flatpak = bool(opts.get("flatpak"))
    request_fields: dict[str, Any] = {}
    if flatpak:
        # Flatpaks are described by container.yaml and built from the dist-git
        # repository of the same name; the backend derives the NVR.
        component = repo_component
        nvr_known = False
    else:
        dockerfile = os.path.join(source_dir, "Dockerfile")
        if not os.path.isfile(dockerfile):
            raise koji.BuildError(
                f"The source {src} has no Dockerfile at the top of the repository; add one."
            )
        try:
            labels = read_image_labels(dockerfile, opts.get("release"))
        except LabelError as error:
            raise koji.BuildError(str(error)) from None
        component = labels.component
        nvr_known = labels.release is not None
        request_fields = {
            "dockerfile": dockerfile,
            "name": labels.name,
            "version": labels.version,
            "release": labels.release,
            "additional_tags": list(labels.additional_tags),
        }
    if not scratch:
        checks.check_package_listed(ctx.session, target_info, component)

    request = BuildRequest(
        kind="binary",
        task_id=ctx.task_id,
        owner=owner["name"],
        target=target_info.name,
        component=component,
        platforms=platforms,
        scratch=scratch,
        isolated=bool(opts.get("isolated")),
        flatpak=flatpak,
        git_uri=git_uri,
        git_ref=git_ref,
        git_branch=opts.get("git_branch"),
        source_dir=source_dir,
        opts=dict(opts),
        **request_fields,
    )
    return PreparedBuild(
        request=request,
        source_url=src,
        nvr_known=nvr_known,
        parent_build=opts.get("koji_parent_build"),
        dest_tag=(target_info.dest_tag_id, target_info.dest_tag_name),
    )


def prepare_source_build(ctx: TaskContext, target: str, opts: Any) -> PreparedBuild:
    """The checks of a buildSourceContainer task."""
    try:
        opts = normalize_source_opts(opts)
    except OptionsError as error:
        raise koji.BuildError(f"Invalid build options: {error}") from None
    target_info = checks.resolve_target(ctx.session, target)
    scratch = bool(opts.get("scratch"))
    owner, _ = checks.task_owner_and_policy(ctx.session, ctx.task_id, scratch)
    source = checks.resolve_source_build(
        ctx.session, opts.get("koji_build_id"), opts.get("koji_build_nvr")
    )
    if not scratch:
        checks.check_package_listed(ctx.session, target_info, source.component)
    request = BuildRequest(
        kind="source",
        task_id=ctx.task_id,
        owner=owner["name"],
        target=target_info.name,
        component=source.component,
        platforms=[],
        scratch=scratch,
        name=source.component,
        version=source.version,
        source_build_id=source.build_id,
        source_build_nvr=source.nvr,
        opts=dict(opts),
    )
    return PreparedBuild(
        request=request,
        source_url=None,
        nvr_known=False,
        source_release=source.release,
        dest_tag=(target_info.dest_tag_id, target_info.dest_tag_name),
    )


def build_container(ctx: TaskContext, src: str, target: str, opts: Any = None) -> dict:
    """Run a buildContainer task (container and flatpak builds)."""
    with CancelWatch() as watch:
        prepared = prepare_binary_build(ctx, src, target, opts)
        watch.check()
        return multiarch.run_container_build(ctx, prepared, watch)


def build_container_arch(
    ctx: TaskContext, src: str, target: str, arch: str, opts: Any = None
) -> dict:
    """Run a buildContainerArch subtask: one arch of its parent's multi-arch build."""
    with CancelWatch() as watch:
        prepared = prepare_binary_build(ctx, src, target, opts)
        if arch not in prepared.request.platforms:
            raise koji.BuildError(
                f"Arch {arch!r} is not one of the arches of this build "
                f"({' '.join(prepared.request.platforms)}); it cannot be built here."
            )
        watch.check()
        return taskrun.drive(archbuild.ArchRun(ctx, prepared, watch, arch))


def build_source_container(ctx: TaskContext, target: str, opts: Any = None) -> dict:
    """Run a buildSourceContainer task."""
    with CancelWatch() as watch:
        prepared = prepare_source_build(ctx, target, opts)
        watch.check()
        return taskrun.run_build(ctx, prepared, watch)
