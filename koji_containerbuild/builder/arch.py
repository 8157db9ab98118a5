"""One arch of a multi-arch build: the ``buildContainerArch`` subtask.

The parent ``buildContainer`` task (:mod:`koji_containerbuild.builder.multiarch`)
makes one such subtask per arch; Koji runs each on a builder of that arch in
the parent's channel. The subtask checks the request again (it may come from
elsewhere), checks out the same commit, builds its one arch with the local
backend and pushes the image by digest only: no tag, since only the parent,
once every arch is built, may publish the manifest list under the build's
tags. Its image archive goes straight into the parent's CG import directory,
so the parent imports it without copying it. It follows the single-arch
rules of the task flow (:mod:`koji_containerbuild.builder.run`): a cancel stops
the build and withdraws its push, a re-run follows the build it started.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import TYPE_CHECKING, Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import BuildResult, ImageOutput, Outcome
from koji_containerbuild.builder import cg, checks
from koji_containerbuild.builder.cancel import CancelWatch
from koji_containerbuild.builder.run import _BuildRun

if TYPE_CHECKING:
    from koji_containerbuild.builder.context import PreparedBuild, TaskContext

logger = logging.getLogger(LOGGER_NAME + ".builder.arch")

#: Task method of the per-arch subtask.
ARCH_METHOD = "buildContainerArch"


def import_dir(parent_id: int) -> str:
    """The CG import directory (under work/) of a multi-arch parent task.

    Each arch subtask uploads its archive into its own subdirectory of it
    (an upload directory belongs to the host that first wrote it), the
    parent its logs and metadata into another.
    """
    return f"containerbuild-import/{int(parent_id)}"


def parent_of(session: Any, task_id: int) -> int:
    """The parent task of an arch subtask; a task made any other way is refused."""
    info = session.getTaskInfo(task_id)
    parent = info.get("parent") if info else None
    if not parent:
        raise koji.BuildError(
            f"Task {task_id} ({ARCH_METHOD}) has no parent task: it only runs as a subtask "
            "of a buildContainer task; submit the build with koji container-build."
        )
    return int(parent)


class ArchRun(_BuildRun):
    """The task run of one arch subtask; see the module docstring."""

    def __init__(
        self, ctx: TaskContext, prepared: PreparedBuild, watch: CancelWatch, arch: str
    ) -> None:
        super().__init__(ctx, prepared, watch)
        self.arch = arch
        self.parent_id = parent_of(ctx.session, ctx.task_id)
        # the parent reserved the NVR and imports the build
        self.needs_import = False
        self.request = dataclasses.replace(
            self.request, platforms=[arch], push_by_digest=True, parent_task_id=self.parent_id
        )

    def finish_checks(self) -> None:
        """The parent checked the NVR (it holds it reserved): only the parent image here."""
        if self.prepared.parent_build and self.backend.resolves_parent_builds:
            checks.check_parent_build_exists(self.ctx.session, self.prepared.parent_build)
        elif self.prepared.parent_build:
            parent = checks.resolve_parent_image(self.ctx.session, self.prepared.parent_build)
            self.request = dataclasses.replace(self.request, parent_image=parent)

    def conclude(self, result: BuildResult) -> dict:
        if result.outcome != Outcome.SUCCEEDED:
            return super().conclude(result)  # raises, naming the build
        images = [image for image in result.images if image.arch == self.arch]
        if len(images) != 1:
            raise koji.BuildError(
                f"The {self.arch} build {result.build_name or self.handle} produced "
                f"{len(images)} images for {self.arch} instead of one."
            )
        image = images[0]
        image.uploaded = self.upload_archive(image)
        image.host = cg.local_host()
        image.archive_path = ""
        out = self.result_dict(result, result.build_name or str(self.handle), [])
        out["arch"] = self.arch
        out["image"] = dataclasses.asdict(image)
        return out

    def upload_archive(self, image: ImageOutput) -> dict[str, Any]:
        """Upload the image archive into the parent's import directory; where it went."""
        filename = image.archive_path.rsplit("/", 1)[-1]
        filesize, checksum = cg.file_facts(image.archive_path)
        relpath = f"{self.arch}-{uuid.uuid4().hex[:12]}"
        self.ctx.session.uploadWrapper(
            image.archive_path, f"{import_dir(self.parent_id)}/{relpath}", name=filename
        )
        return {
            "relpath": relpath,
            "filename": filename,
            "filesize": filesize,
            "checksum": checksum,
        }


def image_from_result(arch: str, task_id: int, result: Any) -> ImageOutput:
    """The ImageOutput an arch subtask returned; a malformed result fails the parent."""
    fields = {f.name for f in dataclasses.fields(ImageOutput)}
    data = result.get("image") if isinstance(result, dict) else None
    if not isinstance(data, dict) or data.get("arch") != arch or not data.get("uploaded"):
        raise koji.BuildError(
            f"The {arch} build (task {task_id}) returned no {arch} image; rebuild."
        )
    return ImageOutput(**{key: value for key, value in data.items() if key in fields})
