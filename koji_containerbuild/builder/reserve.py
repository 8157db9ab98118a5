"""Reserving a build's NVR: reclaim what dead tasks hold, retry lost races.

A CG reservation made with ``task_id`` belongs to that task: kojihub cancels
it with the task (Task.cancel cancels the task's BUILDING builds), but a task
that merely died (task process killed, kojid failing it) leaves its NVR
BUILDING, and only the reservation token refunds it. The token is in the
dead task's re-attach record (:mod:`.attach`), readable by the next task of
the same NVR, which can also refund it (the same CG): so that task stops the
dead task's build if this backend still knows it, refunds the reservation,
and then reserves the NVR itself. Builds with an automatic release may race
each other for the same number: the loser takes the next free one.
"""

from __future__ import annotations

import logging
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME, lease
from koji_containerbuild.backends.base import BuildBackend
from koji_containerbuild.builder import cg, checks
from koji_containerbuild.builder.attach import AttachRecord, read_record

logger = logging.getLogger(LOGGER_NAME + ".reserve")

#: How many releases a build with an automatic release tries before giving up.
MAX_RELEASE_ATTEMPTS = 50


def reservation_from_record(record: AttachRecord) -> cg.CGReservation | None:
    """The CG reservation a re-attach record holds, or None."""
    data = record.reservation
    try:
        return cg.CGReservation(
            build_id=int(data["build_id"]),
            token=str(data["token"]),
            cg_name=str(data["cg_name"]),
            nvr=str(data["nvr"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def reclaim_dead_reservation(session: Any, backend: BuildBackend, nvr: str) -> bool:
    """Refund ``nvr`` when it is BUILDING for a task that ended; True if it was.

    The dead task's build is cancelled first (when this backend still knows
    it), so its pushes are withdrawn before the NVR is built again.
    """
    build = session.getBuild(nvr)
    if not build or build["state"] != koji.BUILD_STATES["BUILDING"] or not build.get("task_id"):
        return False
    dead_task = int(build["task_id"])
    if not lease.task_is_over(session, dead_task):
        return False
    record = read_record(session, dead_task)
    reservation = reservation_from_record(record) if record else None
    if reservation is None or reservation.build_id != build["id"]:
        logger.warning("Build %s of ended task %s has no reservation to refund", nvr, dead_task)
        return False
    if record.backend == backend.name and backend.lookup(record.handle):
        logger.info("Stopping build %s of ended task %s", record.handle, dead_task)
        backend.cancel(record.handle)
    cg.refund_build(session, reservation, state="FAILED")
    logger.warning("Refunded %s, left BUILDING by ended task %s", nvr, dead_task)
    return True


def reclaim_dead_releases(session: Any, backend: BuildBackend, name: str, version: str) -> None:
    """Reclaim every release of ``name-version`` left BUILDING by an ended task."""
    package = session.getPackage(name)
    if not package:
        return
    for build in session.listBuilds(packageID=package["id"], state=koji.BUILD_STATES["BUILDING"]):
        if build["version"] == version:
            reclaim_dead_reservation(session, backend, build["nvr"])


def reserve_build(
    session: Any,
    backend: BuildBackend,
    cg_name: str,
    name: str,
    version: str,
    release: str,
    task_id: int,
    release_base: str | None = None,
    automatic: bool = False,
) -> cg.CGReservation:
    """Reserve ``name-version-release`` for ``task_id``.

    With ``automatic`` (the release was picked by next_free_release) a
    reservation lost to another build moves on to the next free release;
    the caller reads the release it got from the reservation's NVR.
    """
    for _attempt in range(MAX_RELEASE_ATTEMPTS):
        nvr = f"{name}-{version}-{release}"
        try:
            return cg.reserve_build(session, cg_name, name, version, release, task_id=task_id)
        except koji.GenericError:
            if not automatic or checks.nvr_is_free(session.getBuild(nvr)):
                raise
            logger.info("%s was taken by another build; trying the next release", nvr)
        release = checks.next_free_release(
            session, name, version, base=release_base, after=release
        )
    raise koji.BuildError(
        f"No release of {name}-{version} could be reserved after {MAX_RELEASE_ATTEMPTS} "
        "attempts (other builds took them); set the release label or pass --release."
    )
