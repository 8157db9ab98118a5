"""Drive one backend build for a checked task: start or re-attach, logs, outcome.

Separate from :mod:`koji_containerbuild.builder.flow` (which checks the task)
because this part owns the lifetimes that must not leak: the backend build
(cancelled when the Koji task is cancelled, kept when kojid merely shuts
down so a re-run can follow it) and the CG reservation of builds the plugin
imports itself (refunded on any failure so the NVR can be built again).
What a succeeded build then leaves in Koji is :mod:`koji_containerbuild.builder.results`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable

import koji

from koji_containerbuild import LOGGER_NAME, lease
from koji_containerbuild.backends import create_backend
from koji_containerbuild.backends.base import (
    BackendError,
    BuildBackend,
    BuildResult,
    Outcome,
    unsupported_request,
)
from koji_containerbuild.builder import cg, checks, reserve
from koji_containerbuild.builder.attach import AttachRecord, read_record, write_record
from koji_containerbuild.builder.cancel import CancelWatch, TaskCancelled
from koji_containerbuild.builder.results import ResultSteps
from koji_containerbuild.config import load_builder_config
from koji_containerbuild.configvalues import ConfigError
from koji_containerbuild.logs.stream import TaskLogs, stream_build_logs
from koji_containerbuild.optnames import option_name

if TYPE_CHECKING:
    from koji_containerbuild.builder.context import PreparedBuild, TaskContext

logger = logging.getLogger(LOGGER_NAME + ".taskrun")


#: Seconds the last log upload may take after a stop signal: kojid follows its
#: SIGINT with SIGTERM about 3 s later and SIGKILL about 2 s after that
#: (TaskManager.cleanupTask), and the task must have ended by then.
STOP_LOG_BUDGET = 1.5


def open_backend(config: Any) -> BuildBackend:
    """The configured backend; a broken install fails the task, not kojid."""
    settings = getattr(config, config.backend, None)
    try:
        return create_backend(config.backend, settings)
    except BackendError as error:
        raise koji.BuildError(str(error)) from None
    except ImportError as error:
        raise koji.BuildError(
            f"The {config.backend} build backend cannot be loaded ({error}); install the "
            "package it needs on this builder (osbs-client for the osbs backend)."
        ) from None


def _task_was_cancelled(session: Any, task_id: int) -> bool:
    """After a stop signal: was the task cancelled, or is kojid shutting down?"""
    try:
        state = session.getTaskInfo(task_id)["state"]
    except Exception:  # the hub may already refuse this session; cancel to be safe
        logger.warning("Could not read the state of task %s; treating it as cancelled", task_id)
        return True
    return state not in lease.TASK_RUNNING_STATES


def _task_state(session: Any, task_id: int) -> str | None:
    """The task's state name, None when the hub cannot tell."""
    try:
        return koji.TASK_STATES[session.getTaskInfo(task_id)["state"]]
    except Exception:
        logger.warning("Could not read the state of task %s", task_id, exc_info=True)
        return None


def _refund(session: Any, reservation: cg.CGReservation | None, state: str) -> None:
    if reservation is None:
        return
    try:
        cg.refund_build(session, reservation, state=state)
    except koji.GenericError as error:  # e.g. the hub cancelled it with the task already
        logger.warning("Could not refund the reservation of %s: %s", reservation.nvr, error)
    except Exception:
        logger.exception("Could not refund the reservation of %s", reservation.nvr)


class _BuildRun(ResultSteps):
    """State of one task run; see :func:`run_build`."""

    def __init__(self, ctx: TaskContext, prepared: PreparedBuild, watch: CancelWatch) -> None:
        self.ctx = ctx
        self.prepared = prepared
        self.watch = watch
        try:
            self.config = load_builder_config()
        except ConfigError as error:
            raise koji.BuildError(
                f"The builder plugin configuration is invalid: {error}"
            ) from None
        self.backend = open_backend(self.config)
        self.request = prepared.request
        self.needs_import = not self.backend.imports_builds and not self.request.scratch
        self.handle: str | None = None
        #: Set when the release was picked here: a lost reservation race takes the next.
        self.automatic_release = False
        self.reservation: cg.CGReservation | None = None
        self.ended = False
        self.imported = False
        self.refunded = False
        self.kept_for_rerun = False
        self.start_time = time.time()
        self.logs_dir = os.path.join(ctx.workdir, "logs")
        self.task_logs: TaskLogs | None = None

    # -- before the build -------------------------------------------------
    def find_previous_build(self) -> bool:
        """Re-attach to the build a previous run of this task started."""
        record = read_record(self.ctx.session, self.ctx.task_id)
        if record is None:
            return False
        if record.backend == self.backend.name and self.backend.reattach(
            record.handle, self.request
        ):
            logger.info("Following build %s started by an earlier run of this task", record.handle)
            self.handle = record.handle
            self.reservation = reserve.reservation_from_record(record)
            return True
        logger.info("The build %s of an earlier run is gone; starting a new one", record.handle)
        _refund(self.ctx.session, reserve.reservation_from_record(record), "FAILED")
        return False

    def finish_checks(self) -> None:
        """The NVR check and the inputs a fresh start needs."""
        session = self.ctx.session
        request = self.request
        if self.needs_import and request.release is None and request.version:
            reserve.reclaim_dead_releases(
                session, self.backend, request.component, request.version
            )
            release = checks.next_free_release(
                session, request.component, request.version, base=self.prepared.source_release
            )
            request = dataclasses.replace(request, release=release)
            self.automatic_release = True
        if not request.scratch and request.release and request.version:
            nvr = f"{request.component}-{request.version}-{request.release}"
            if self.needs_import:
                reserve.reclaim_dead_reservation(session, self.backend, nvr)
            checks.check_nvr_free(session, nvr)
        if self.prepared.parent_build and self.backend.resolves_parent_builds:
            checks.check_parent_build_exists(session, self.prepared.parent_build)
        elif self.prepared.parent_build:
            parent = checks.resolve_parent_image(session, self.prepared.parent_build)
            request = dataclasses.replace(request, parent_image=parent)
        if self.needs_import and not (request.version and request.release):
            raise koji.BuildError(
                f"The {self.backend.name} backend needs a known version and release to import "
                "the build into Koji; set the version and release labels or make a scratch "
                f"build (option {option_name('scratch')})."
            )
        self.request = request

    def start(self) -> None:
        self.reserve()
        self.start_backend(lambda: self.backend.start(self.request))

    def reserve(self) -> None:
        """Reserve the NVR of a build the plugin imports (the next free release on a lost race)."""
        if self.needs_import:
            request = self.request
            self.reservation = reserve.reserve_build(
                self.ctx.session,
                self.backend,
                self.config.cg_name,
                request.component,
                request.version,
                request.release,
                self.ctx.task_id,
                release_base=self.prepared.source_release,
                automatic=self.automatic_release,
            )
            release = self.reservation.nvr.rsplit("-", 1)[1]
            if release != request.release:  # another build took the first free one
                self.request = dataclasses.replace(request, release=release)

    def start_backend(self, start: Callable[[], str]) -> None:
        """Start the backend build with ``start()`` and record its handle for a re-run."""
        self.request = dataclasses.replace(self.request, hub_url=self._hub_url())
        with self.watch.held():
            self.handle = start()
            logger.info("Started backend build %s", self.handle)
            try:
                self.record(self.backend.name, self.handle)
            except Exception as error:
                # A stop signal held back meanwhile explains the failure (the hub
                # refuses a cancelled task's uploads): end as cancelled.
                self.watch.check()
                # A re-run of this task could not find the build and would start a
                # second one: fail now (run_build cancels the build) instead.
                logger.exception("Could not record build %s for a re-run", self.handle)
                raise koji.BuildError(
                    f"The container build {self.handle} was started but could not be recorded "
                    f"in the task output ({error}); it is cancelled so that no second build "
                    "can start for this task. Resubmit the build."
                ) from None

    def record(self, backend: str, handle: str) -> None:
        """Upload the re-attach record: the build's handle and the NVR reservation."""
        record = AttachRecord(
            backend=backend,
            handle=handle,
            reservation=dataclasses.asdict(self.reservation) if self.reservation else {},
        )
        write_record(self.ctx.session, self.ctx.upload_dir, self.ctx.workdir, record)

    def _hub_url(self) -> str | None:
        """Where a detached build reads this task's state (its lease)."""
        url = getattr(self.ctx.session, "baseurl", None)
        return url if isinstance(url, str) else None

    # -- the build --------------------------------------------------------
    def follow(self) -> BuildResult:
        self.task_logs = TaskLogs(
            self.ctx.session,
            self.ctx.upload_dir,
            self.logs_dir,
            self.ctx.hub_work_dir,
            flush_interval=self.config.log_flush_interval,
        )
        # On a stop signal or an error the logs stay open here: run_build stops
        # the build and frees the NVR first, and only then uploads the rest.
        stream_build_logs(self.backend, self.handle, self.task_logs, cancelled=self.watch.event)
        self.task_logs.close()
        result = self.backend.wait(self.handle)
        self.ended = True
        return result

    def conclude(self, result: BuildResult) -> dict:
        name = result.build_name or self.handle
        if result.outcome == Outcome.CANCELLED:
            self.watch.quiet()
            self.refund("CANCELED")
            try:
                self.ctx.session.cancelTask(self.ctx.task_id)
            except Exception:
                logger.exception("Could not cancel task %s", self.ctx.task_id)
            raise koji.BuildError(
                f"The container build {name} was cancelled in the build system; "
                "the Koji task is cancelled too."
            )
        if result.outcome != Outcome.SUCCEEDED:
            reason = result.reason or "no reason was given"
            raise koji.BuildError(f"The container build {name} failed: {reason}")
        koji_builds: list[str] = []
        if self.needs_import and self._import_landed(unsure=False):
            # an earlier run of this task imported it and was stopped before closing
            self.imported = True
            build_id = self.reservation.build_id
            koji_builds.append(str(build_id))
            tagged = {tag["id"] for tag in self.ctx.session.listTags(build=build_id)}
            if self.prepared.dest_tag is not None and self.prepared.dest_tag[0] not in tagged:
                self.tag_build(build_id)
        elif self.needs_import:
            build_id = self.import_build(result)
            koji_builds.append(str(build_id))
            self.tag_build(build_id)
        elif result.koji_build_id is not None:
            koji_builds.append(str(result.koji_build_id))
        return self.result_dict(result, name, koji_builds)

    # -- endings ----------------------------------------------------------
    def refund(self, state: str) -> None:
        if self.refunded or self.imported or self.reservation is None:
            return
        self.refunded = True
        _refund(self.ctx.session, self.reservation, state)

    def on_stop_signal(self) -> None:
        """Cancel the build if the task was cancelled; keep it if kojid shuts down."""
        self.watch.quiet()
        if self.handle and not _task_was_cancelled(self.ctx.session, self.ctx.task_id):
            logger.warning(
                "Stopped while task %s is still open (kojid shutting down): build %s keeps "
                "running for a re-run of the task to follow",
                self.ctx.task_id,
                self.handle,
            )
            self.kept_for_rerun = True  # its outputs are what the re-run imports
            return
        self._cancel_build("was cancelled")
        self.refund("CANCELED")

    def on_failure(self) -> None:
        """The task fails: stop a build nobody will follow and free the NVR.

        A failure caused by a cancel the stop signal has not announced yet
        (an upload refused because the task is CANCELED) refunds as CANCELED.
        """
        self._cancel_build("failed")
        if self.reservation is not None and not self.refunded and not self.imported:
            cancelled = _task_state(self.ctx.session, self.ctx.task_id) == "CANCELED"
            self.refund("CANCELED" if cancelled else "FAILED")

    def _cancel_build(self, why: str) -> None:
        """Cancel the build, or withdraw a finished one; the task ends without it.

        A finished build the plugin would have imported is withdrawn too (its
        tags must not outlive the task) unless Koji already holds the import.
        """
        if not self.handle:
            return
        if self.ended and (not self.needs_import or self._import_landed()):
            return
        logger.warning("Task %s %s: cancelling build %s", self.ctx.task_id, why, self.handle)
        try:
            self.backend.cancel(self.handle)
        except Exception:
            logger.exception("Could not cancel build %s", self.handle)
        self.ended = True

    def close_logs(self, budget: float | None = None) -> None:
        """Upload what is left of the logs, within ``budget`` seconds; never raises."""
        if self.task_logs is None:
            return
        try:
            self.task_logs.close(budget)
        except Exception:
            logger.exception("Could not upload the rest of the build logs")

    def _import_landed(self, unsure: bool = True) -> bool:
        """Whether Koji holds this task's import; ``unsure``: the answer when the hub fails."""
        if self.imported:
            return True
        if self.reservation is None:
            return False
        try:
            return lease.imported_by_task(self.ctx.session, self.reservation.nvr, self.ctx.task_id)
        except Exception:
            logger.exception("Could not check whether %s was imported", self.reservation.nvr)
            return unsure

    def cleanup(self) -> None:
        if self.handle and self.ended and not self.kept_for_rerun:
            try:
                self.backend.cleanup(self.handle)
            except Exception:
                logger.exception("Could not clean up build %s", self.handle)


def run_build(ctx: TaskContext, prepared: PreparedBuild, watch: CancelWatch) -> dict:
    """Start (or follow) the build, stream its logs, and return the task result."""
    return drive(_BuildRun(ctx, prepared, watch))


def drive(run: _BuildRun) -> dict:
    """The life of one task run: its steps, and on every ending the cleanup it needs.

    The multi-arch flow (:mod:`koji_containerbuild.builder.multiarch`) drives its own
    runs, subclasses of the single-build one, through the same endings.
    """
    prepared = run.prepared
    refusal = unsupported_request(run.backend, prepared.request)
    if refusal:
        raise koji.BuildError(refusal)
    log_budget = None
    try:
        if not run.find_previous_build():
            run.finish_checks()
            run.start()
        result = run.follow()
        return run.conclude(result)
    except TaskCancelled:
        # the build and the NVR first; the hub refuses the cancelled task's uploads anyway
        run.on_stop_signal()
        log_budget = STOP_LOG_BUDGET
        raise
    except BackendError as error:
        # its message is meant for the owner: fail the task with it, not a traceback
        run.on_failure()
        raise koji.BuildError(str(error)) from None
    except BaseException:
        run.on_failure()
        raise
    finally:
        run.close_logs(log_budget)
        run.cleanup()
