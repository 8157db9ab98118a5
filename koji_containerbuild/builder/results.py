"""What a succeeded build leaves in Koji: the CG import, its tag, the task result.

Apart from :mod:`koji_containerbuild.builder.run` (which owns the lifetimes of
the backend build and the NVR reservation) because these steps only turn a
finished build into Koji state; they are the part the multi-arch runs
(:mod:`koji_containerbuild.builder.multiarch`) override, and reading them needs
none of the cancel and refund rules.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import BuildResult
from koji_containerbuild.builder import cg, tagging

if TYPE_CHECKING:
    from koji_containerbuild.backends.base import BuildRequest
    from koji_containerbuild.builder.context import PreparedBuild, TaskContext
    from koji_containerbuild.logs.stream import TaskLogs

logger = logging.getLogger(LOGGER_NAME + ".taskrun")


class ResultSteps:
    """The result steps of a task run, mixed into the run of :mod:`.run`.

    They read the run's state and set ``imported`` once Koji holds the build.
    """

    ctx: TaskContext
    prepared: PreparedBuild
    request: BuildRequest
    reservation: cg.CGReservation | None
    start_time: float
    imported: bool
    task_logs: TaskLogs | None

    def import_build(self, result: BuildResult) -> int:
        if self.reservation is None:
            raise koji.BuildError(
                "The build finished but its NVR reservation was lost; rebuild to import it."
            )
        request = self.request
        name, version, release = self.reservation.nvr.rsplit("-", 2)
        record = cg.BuildRecord(
            name=name,
            version=version,
            release=release,
            source=self.prepared.source_url or request.source_build_nvr or "",
            owner=request.owner,
            task_id=self.ctx.task_id,
            start_time=self.start_time,
            end_time=time.time(),
            extra=self.build_extra(),
        )
        upload_dir, relpath = self.import_location()
        build_id = cg.import_build(
            self.ctx.session,
            self.reservation,
            record,
            result,
            self.import_logs(),
            upload_dir,
            relpath,
        )
        self.imported = True
        return int(build_id)

    def import_location(self) -> tuple[str, str]:
        """The CGImport directory under work/ and where in it this run's files go."""
        return f"containerbuild-import/{self.ctx.task_id}-{uuid.uuid4().hex[:12]}", ""

    def import_logs(self) -> list[str]:
        """Local log files imported with the build."""
        return self.task_logs.files() if self.task_logs else []

    def build_extra(self) -> dict[str, Any]:
        """build.extra beyond what cg adds: userdata and the parent build, as atomic-reactor
        records them."""
        extra: dict[str, Any] = {}
        userdata = self.request.opts.get("userdata")
        if userdata:
            extra["custom_user_metadata"] = userdata
        if self.prepared.parent_build:
            parent = self.ctx.session.getBuild(self.prepared.parent_build, strict=True)
            extra["image"] = {"parent_build_id": int(parent["id"])}
        return extra

    def tag_build(self, build_id: int) -> None:
        """Into the target's destination tag, as kojid's tagBuild task would."""
        if self.prepared.dest_tag is None or self.reservation is None:
            return
        tag_id, tag_name = self.prepared.dest_tag
        tagging.tag_imported_build(
            self.ctx.session, self.ctx.task_id, tag_id, tag_name, build_id, self.reservation.nvr
        )

    def result_dict(self, result: BuildResult, name: str, koji_builds: list[str]) -> dict:
        task_logs = self.task_logs
        out: dict[str, Any] = {
            "repositories": [str(r) for r in result.repositories],
            "koji_builds": koji_builds,
            "user_warnings": list(task_logs.user_warnings) if task_logs else [],
            "build_name": str(name),
        }
        if result.platforms:
            out["platforms"] = [str(p) for p in result.platforms]
        metadata = task_logs.metadata_file if task_logs else None
        if metadata and self.request.scratch:
            remote_name = self.attach_metadata(metadata)
            if remote_name:
                out["metadata_file"] = remote_name
        for key, value in (result.extra or {}).items():
            out.setdefault(str(key), value)
        return out

    def attach_metadata(self, path: str) -> str | None:
        """Copy the scratch build's metadata.json into the task output, never over a file."""
        remote_name = os.path.basename(path)
        existing = self.ctx.session.listTaskOutput(self.ctx.task_id)
        if remote_name in existing:
            logger.warning(
                "Not attaching %s: the task output already has a file %r", path, remote_name
            )
            return None
        self.ctx.session.uploadWrapper(path, self.ctx.upload_dir, remote_name, overwrite=False)
        return remote_name
