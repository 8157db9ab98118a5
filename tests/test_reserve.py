"""Reserving NVRs in the sandbox hub: task-owned reservations, dead tasks, release races."""

from __future__ import annotations

import tempfile
import threading

import koji
import pytest

from koji_containerbuild.backends.base import BuildBackend
from koji_containerbuild.builder import attach, reserve

CG = "koji-containerbuild"
NVR = "demo-image-1.0-1"


class KnownBuilds(BuildBackend):
    """A backend that only remembers handles and which of them were cancelled."""

    name = "local"

    def __init__(self, known=()):
        self.known = set(known)
        self.cancelled = []

    def start(self, request):
        raise NotImplementedError

    def logs(self, handle):
        return iter(())

    def wait(self, handle):
        raise NotImplementedError

    def cancel(self, handle):
        self.cancelled.append(handle)

    def cleanup(self, handle):
        pass

    def lookup(self, handle):
        return handle in self.known


@pytest.fixture
def cg_hub(sandbox_hub):
    sandbox_hub.grant_cg_access("builder", CG)
    return sandbox_hub


@pytest.fixture
def builder(cg_hub):
    return cg_hub.session("builder")


def open_task(hub) -> int:
    task_id = hub.session("admin").makeTask("buildContainer", [], channel="container")
    hub.session("builder").host.openTask(task_id)
    return task_id


def reserve_for(session, task_id, handle="h-1", release="1"):
    """Reserve as a task does and record the reservation in its output."""
    reservation = reserve.reserve_build(
        session, KnownBuilds(), CG, "demo-image", "1.0", release, task_id
    )
    record = attach.AttachRecord("local", handle, reservation.__dict__)
    # a directory of the call's own, as each task has its own workdir: tests
    # running at once in other processes write a record of the same name
    with tempfile.TemporaryDirectory() as local_dir:
        attach.write_record(session, koji.pathinfo.taskrelpath(task_id), local_dir, record)
    return reservation


def fail_task(session, task_id):
    fault = koji.xmlrpcplus.Fault(1000, "The task process was killed.")
    session.host.failTask(task_id, koji.xmlrpcplus.dumps(fault))


def state(session, nvr=NVR):
    return koji.BUILD_STATES[session.getBuild(nvr)["state"]]


def test_reservation_records_its_task(cg_hub, builder):
    task_id = open_task(cg_hub)
    reserve_for(builder, task_id)
    assert builder.getBuild(NVR)["task_id"] == task_id


def test_cancelling_the_task_cancels_its_reserved_build(cg_hub, builder):
    task_id = open_task(cg_hub)
    reserve_for(builder, task_id)
    cg_hub.session("admin").cancelTask(task_id)
    assert state(builder) == "CANCELED"


def test_another_task_cannot_reserve_a_building_nvr(cg_hub, builder):
    reserve_for(builder, open_task(cg_hub))
    with pytest.raises(koji.GenericError, match="already in progress"):
        reserve_for(builder, open_task(cg_hub))


def test_the_same_task_reserving_again_is_told_it_is_reserved(cg_hub, builder):
    task_id = open_task(cg_hub)
    reserve_for(builder, task_id)
    with pytest.raises(koji.GenericError, match="already reserved"):
        reserve_for(builder, task_id)


def test_reservation_for_a_task_that_does_not_exist_is_refused(builder):
    with pytest.raises(koji.GenericError, match="No such task"):
        builder.CGInitBuild(CG, {"name": "demo-image", "version": "1.0", "release": "1",
                                 "task_id": 999999})  # fmt: skip


def test_reservation_of_a_failed_task_is_refunded(cg_hub, builder):
    dead = open_task(cg_hub)
    reserve_for(builder, dead)
    fail_task(builder, dead)
    assert reserve.reclaim_dead_reservation(builder, KnownBuilds(), NVR) is True
    assert state(builder) == "FAILED"


def test_reclaiming_stops_the_dead_tasks_build(cg_hub, builder):
    dead = open_task(cg_hub)
    reserve_for(builder, dead, handle="dead-build")
    fail_task(builder, dead)
    backend = KnownBuilds(known={"dead-build"})
    reserve.reclaim_dead_reservation(builder, backend, NVR)
    assert backend.cancelled == ["dead-build"]


def test_a_reclaimed_nvr_can_be_reserved_by_the_next_task(cg_hub, builder):
    dead = open_task(cg_hub)
    reserve_for(builder, dead)
    fail_task(builder, dead)
    reserve.reclaim_dead_reservation(builder, KnownBuilds(), NVR)
    second = open_task(cg_hub)
    reserve_for(builder, second)
    assert builder.getBuild(NVR)["task_id"] == second


def test_reservation_of_a_running_task_is_kept(cg_hub, builder):
    running = open_task(cg_hub)
    reserve_for(builder, running)
    assert reserve.reclaim_dead_reservation(builder, KnownBuilds(), NVR) is False
    assert state(builder) == "BUILDING"


def test_reservation_of_a_freed_task_is_kept(cg_hub, builder):
    restarted = open_task(cg_hub)
    reserve_for(builder, restarted)
    builder.host.freeTasks([restarted])
    assert reserve.reclaim_dead_reservation(builder, KnownBuilds(), NVR) is False
    assert state(builder) == "BUILDING"


def test_dead_releases_of_a_version_are_all_reclaimed(cg_hub, builder):
    for release in ("1", "2"):
        dead = open_task(cg_hub)
        reserve_for(builder, dead, release=release)
        fail_task(builder, dead)
    reserve.reclaim_dead_releases(builder, KnownBuilds(), "demo-image", "1.0")
    assert [state(builder, f"demo-image-1.0-{r}") for r in ("1", "2")] == ["FAILED", "FAILED"]


def test_lost_automatic_release_takes_the_next_one(cg_hub, builder):
    reserve_for(builder, open_task(cg_hub), release="1")
    won = reserve.reserve_build(
        builder, KnownBuilds(), CG, "demo-image", "1.0", "1", open_task(cg_hub), automatic=True
    )
    assert won.nvr == "demo-image-1.0-2"


def test_lost_explicit_release_is_refused(cg_hub, builder):
    reserve_for(builder, open_task(cg_hub), release="1")
    with pytest.raises(koji.GenericError, match="already in progress"):
        reserve.reserve_build(builder, KnownBuilds(), CG, "demo-image", "1.0", "1",
                              open_task(cg_hub))  # fmt: skip


def test_four_concurrent_automatic_reservations_get_distinct_releases(cg_hub, hub_server):
    tasks = [open_task(cg_hub) for _ in range(4)]
    barrier = threading.Barrier(4)
    releases, errors = [], []

    def reserve_one(task_id):
        session = koji.ClientSession(hub_server.url, {"user": "builder", "password": "builder"})
        session.login()
        barrier.wait()
        try:
            reservation = reserve.reserve_build(
                session, KnownBuilds(), CG, "demo-image", "1.0", "1", task_id, automatic=True
            )
            releases.append(reservation.nvr)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=reserve_one, args=(t,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(releases) == [f"demo-image-1.0-{n}" for n in (1, 2, 3, 4)]
