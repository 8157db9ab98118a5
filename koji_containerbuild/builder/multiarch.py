"""Multi-arch builds on plain Koji builders: one subtask per arch, one manifest list.

With a backend that builds per-arch subtasks (the local one), a
``buildContainer`` task for arches other than its own host's becomes the
parent of one ``buildContainerArch`` subtask per arch
(:mod:`koji_containerbuild.builder.arch`); Koji schedules each on a builder of
that arch in the channel. The parent does the checks, reserves the NVR,
makes the subtasks (labelled by arch: a re-run of the parent finds the same
ones instead of making new ones), waits for them as kojid's tasks wait
(BaseTaskHandler.wait, failany: one failure cancels the rest), then joins
their images into one manifest list pushed under the build's tags (a backend
build of its own, :meth:`~koji_containerbuild.backends.base.BuildBackend.start_image_list`),
imports ONE Koji build with an image output and a buildroot per arch, and
tags it. Any failure or cancel withdraws the arch images, pushes no tag and
refunds the reservation.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
import xmlrpc.client
from typing import TYPE_CHECKING, Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import BuildResult, ImageOutput
from koji_containerbuild.builder.arch import ARCH_METHOD, image_from_result, import_dir
from koji_containerbuild.builder.attach import read_record
from koji_containerbuild.builder.cancel import CancelWatch
from koji_containerbuild.builder.reserve import reservation_from_record
from koji_containerbuild.builder.run import _BuildRun, _task_was_cancelled, drive, run_build
from koji_containerbuild.logs.stream import TaskLogs, stream_build_logs
from koji_containerbuild.xmlsafe import xml_safe_text

if TYPE_CHECKING:
    from koji_containerbuild.builder.context import PreparedBuild, TaskContext

logger = logging.getLogger(LOGGER_NAME + ".builder.multiarch")

#: Re-attach record of a parent whose subtasks run and whose list is not started.
SUBTASKS_RECORD = "arch-subtasks"

#: Bytes of a subtask's log fetched per downloadTaskOutput call.
LOG_CHUNK = 1024 * 1024


def builder_arch(config: Any) -> str:
    """The arch this builder has in Koji (its config's ``arch``), which it builds for."""
    return getattr(config, "arch", None) or koji.canonArch(os.uname().machine)


def run_container_build(ctx: TaskContext, prepared: PreparedBuild, watch: CancelWatch) -> dict:
    """A buildContainer task: per-arch subtasks when the backend and the arches call for it.

    A build of this builder's arch alone stays in this task, as before: no
    scheduling round trip, and the result and import are the same shape.
    """
    run = ParentRun(ctx, prepared, watch)
    if not run.uses_subtasks():
        return run_build(ctx, prepared, watch)
    return drive(run)


class ParentRun(_BuildRun):
    """The parent task of a multi-arch build; see the module docstring."""

    def __init__(self, ctx: TaskContext, prepared: PreparedBuild, watch: CancelWatch) -> None:
        super().__init__(ctx, prepared, watch)
        #: arch -> subtask id, in the build's arch order.
        self.subtasks: dict[str, int] = {}
        #: arch -> the image its subtask built (pushed by digest).
        self.images: dict[str, ImageOutput] = {}

    def uses_subtasks(self) -> bool:
        request = self.request
        return (
            self.backend.arch_subtasks
            and request.kind == "binary"
            and list(request.platforms) != [builder_arch(self.config)]
        )

    # -- before the build -------------------------------------------------
    def find_previous_build(self) -> bool:
        """A re-run keeps the reservation and the subtasks (and list build) of the first run."""
        record = read_record(self.ctx.session, self.ctx.task_id)
        if record is None or record.backend not in (SUBTASKS_RECORD, self.backend.name):
            return False
        self.reservation = reservation_from_record(record)
        if self.reservation is not None:
            release = self.reservation.nvr.rsplit("-", 1)[1]
            self.request = dataclasses.replace(self.request, release=release)
        if record.backend == self.backend.name and self.backend.reattach(
            record.handle, self.request
        ):
            logger.info("Following image list %s started by an earlier run", record.handle)
            self.handle = record.handle
        return True

    def start(self) -> None:
        """Reserve the NVR and record it before any subtask exists (a re-run reuses both)."""
        self.reserve()
        with self.watch.held():
            try:
                self.record(SUBTASKS_RECORD, SUBTASKS_RECORD)
            except Exception as error:
                self.watch.check()
                raise koji.BuildError(
                    f"The NVR reservation could not be recorded in the task output ({error}); "
                    "resubmit the build."
                ) from None

    # -- the build --------------------------------------------------------
    def follow(self) -> BuildResult:
        self.task_logs = TaskLogs(
            self.ctx.session,
            self.ctx.upload_dir,
            self.logs_dir,
            self.ctx.hub_work_dir,
            flush_interval=self.config.log_flush_interval,
        )
        self.build_arches()
        if self.handle is None:
            images = [self.images[arch] for arch in self.subtasks]
            self.start_backend(lambda: self.backend.start_image_list(self.request, images))
        stream_build_logs(self.backend, self.handle, self.task_logs, cancelled=self.watch.event)
        self.task_logs.close()
        result = self.backend.wait(self.handle)
        self.ended = True
        result.extra = {**result.extra, "arch_tasks": dict(self.subtasks)}
        return result

    def build_arches(self) -> None:
        """Make (or find again) one subtask per arch and wait until all of them succeeded."""
        session = self.ctx.session
        opts = dict(self.request.opts)
        if self.request.release:
            opts["release"] = self.request.release  # the release reserved here, maybe picked
        for arch in self.request.platforms:
            self.subtasks[arch] = int(
                session.host.subtask(
                    ARCH_METHOD,
                    [self.prepared.source_url, self.request.target, arch, opts],
                    self.ctx.task_id,
                    arch=arch,
                    label=arch,
                )
            )
        logger.info("Waiting for the arch subtasks %s", self.subtasks)
        for arch, task_id in self.subtasks.items():
            # the arch's build log lives in its own task, streamed by it
            self.task_logs.write(
                None, f"{arch}: built by task {task_id}; its log: koji watch-logs {task_id}"
            )
        try:
            results = self.ctx.wait(list(self.subtasks.values()), all=True, failany=True)
        except (koji.GenericError, xmlrpc.client.Fault):
            self.collect_built_images()  # to withdraw them: no list will take them
            raise koji.BuildError(self.arch_failure()) from None
        for arch, task_id in self.subtasks.items():
            result = results.get(task_id, results.get(str(task_id)))
            self.images[arch] = image_from_result(arch, task_id, result)

    def collect_built_images(self) -> None:
        """The images of the subtasks that succeeded while another failed."""
        closed = koji.TASK_STATES["CLOSED"]
        states = {c["id"]: c["state"] for c in self.ctx.session.getTaskChildren(self.ctx.task_id)}
        for arch, task_id in self.subtasks.items():
            if states.get(task_id) != closed:
                continue
            try:
                result = self.ctx.session.getTaskResult(task_id)
                self.images[arch] = image_from_result(arch, task_id, result)
            except Exception:
                logger.exception("Could not read the result of the %s subtask %s", arch, task_id)

    def arch_failure(self) -> str:
        """The sentence naming the first arch subtask that failed or was cancelled."""
        session = self.ctx.session
        by_id = {child["id"]: child for child in session.getTaskChildren(self.ctx.task_id)}
        ending = "the other arches were cancelled and no tag was pushed."
        for wanted in ("FAILED", "CANCELED"):
            for arch, task_id in self.subtasks.items():
                child = by_id.get(task_id)
                if child is None or child["state"] != koji.TASK_STATES[wanted]:
                    continue
                if wanted == "CANCELED":
                    return f"The {arch} build (task {task_id}) was cancelled; {ending}"
                fault = session.getTaskResult(task_id, raise_fault=False)
                reason = fault.get("faultString") if isinstance(fault, dict) else None
                reason = xml_safe_text(str(reason or "no reason was given")).rstrip(".")
                return f"The {arch} build (task {task_id}) failed: {reason}; {ending}"
        return f"An arch subtask of task {self.ctx.task_id} ended without a result; {ending}"

    # -- the import -------------------------------------------------------
    def import_location(self) -> tuple[str, str]:
        """The directory the arch subtasks uploaded into; this run's files in their own."""
        return import_dir(self.ctx.task_id), f"{self.ctx.task_id}-{uuid.uuid4().hex[:12]}"

    def import_logs(self) -> list[str]:
        """The list build's logs and each arch's build log, fetched from its subtask."""
        own = super().import_logs()
        names = {os.path.basename(path) for path in own}
        return own + [
            path for path in self.fetch_arch_logs() if os.path.basename(path) not in names
        ]

    def fetch_arch_logs(self) -> list[str]:
        """``<arch>.log`` of each subtask that has one, copied here in pieces."""
        paths = []
        for arch, task_id in self.subtasks.items():
            name = f"{arch}.log"
            if name not in self.ctx.session.listTaskOutput(task_id):
                continue
            path = os.path.join(self.logs_dir, "arches", name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                offset = 0
                while True:
                    chunk = self.ctx.session.downloadTaskOutput(task_id, name, offset, LOG_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    offset += len(chunk)
            paths.append(path)
        return paths

    # -- endings ----------------------------------------------------------
    def on_stop_signal(self) -> None:
        """Cancelled: withdraw everything; kojid shutting down: keep it all for the re-run."""
        self.watch.quiet()
        if not _task_was_cancelled(self.ctx.session, self.ctx.task_id):
            logger.warning(
                "Stopped while task %s is still open (kojid shutting down): its arch "
                "subtasks %s keep running for a re-run to follow",
                self.ctx.task_id,
                self.subtasks,
            )
            self.kept_for_rerun = True
            return
        # the hub cancelled the subtasks with this task
        self._cancel_build("was cancelled")
        self.withdraw_arch_images()
        self.refund("CANCELED")

    def on_failure(self) -> None:
        self.cancel_subtasks()
        super().on_failure()
        self.withdraw_arch_images()

    def cancel_subtasks(self) -> None:
        """Subtasks still running are of no use once the parent fails."""
        if not self.subtasks:
            return
        try:
            self.ctx.session.cancelTaskChildren(self.ctx.task_id)
        except Exception:
            logger.exception("Could not cancel the subtasks of task %s", self.ctx.task_id)

    def withdraw_arch_images(self) -> None:
        """Delete the arch images no list build took over (it withdraws its own)."""
        if self.handle is not None or not self.images or self.imported:
            return
        try:
            self.backend.withdraw_images(list(self.images.values()))
        except Exception:
            logger.exception("Could not withdraw the arch images of task %s", self.ctx.task_id)
