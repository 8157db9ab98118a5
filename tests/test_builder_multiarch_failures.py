"""A multi-arch build that fails, stops or is cancelled (builder/multiarch.py).

One arch failing fails the parent, refunds the reservation, starts no image
list and withdraws the other arches' images; kojid stopping or cancelling the
waiting parent, and the rerun of a stopped parent.
"""

from __future__ import annotations

import signal

import koji
import koji.xmlrpcplus
import pytest

from tests.builder_harness import kojid_signal
from tests.multiarch_harness import (  # noqa: F401 - fixtures
    OPTS,
    ArchHosts,
    backend,
    build_state,
    children,
    hub,
    kojid,
    run_parent,
    source,
)


def test_one_arch_failing_fails_the_parent_naming_arch_and_subtask(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    parent = kojid.submit(source, OPTS)
    state, _ = run_parent(hub, kojid, parent)
    failed = next(t["id"] for t in children(kojid, parent) if t["arch"] == "aarch64")
    handle = next(h for h, (_, r, _) in backend.builds.items() if r.platforms == ["aarch64"])
    fault = kojid.session.getTaskResult(parent, raise_fault=False)
    assert (state, fault["faultString"]) == (
        "FAILED",
        f"The aarch64 build (task {failed}) failed: The container build {handle} failed: "
        "RUN exited with 1; the other arches were cancelled and no tag was pushed.",
    )


def test_one_arch_failing_refunds_the_reservation(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert build_state(kojid) == "FAILED"


def test_one_arch_failing_starts_no_image_list(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert backend.lists == []


def test_one_arch_failing_cancels_the_arch_still_running(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    parent = kojid.submit(source, OPTS)
    with ArchHosts(hub, kojid) as hosts:
        del hosts.sessions["builder"]  # the x86_64 host is busy: its subtask waits
        state = kojid.report(parent)
    states = {t["arch"]: koji.TASK_STATES[t["state"]] for t in children(kojid, parent)}
    assert (state, states) == ("FAILED", {"x86_64": "CANCELED", "aarch64": "FAILED"})


def test_one_arch_failing_withdraws_the_images_of_the_others(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    x86 = next(t for t in children(kojid, parent) if t["arch"] == "x86_64")
    assert (koji.TASK_STATES[x86["state"]], backend.withdrawn) == ("CLOSED", ["x86_64"])


def test_a_refunded_multiarch_nvr_builds_again(hub, kojid, backend, source):
    backend.failing_arch = "aarch64"
    run_parent(hub, kojid, kojid.submit(source, OPTS))
    backend.failing_arch = None
    state, _ = run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert (state, build_state(kojid)) == ("CLOSED", "COMPLETE")


def stop_when_waiting(hub, kojid, parent, cancel: bool):
    """Run the parent until it waits, then signal it as kojid does (after a cancel or not)."""

    def stop(task):
        if cancel:
            hub.session("alice").cancelTask(parent)
        kojid_signal(signal.SIGINT)

    with ArchHosts(hub, kojid) as hosts:
        hosts.sessions = {}  # no arch host free: the subtasks wait
        hosts.on_waiting = stop
        with pytest.raises(KeyboardInterrupt):
            kojid.report(parent)


def test_kojid_stopping_the_waiting_parent_keeps_its_reservation(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=False)
    states = [koji.TASK_STATES[t["state"]] for t in children(kojid, parent)]
    assert (build_state(kojid), states) == ("BUILDING", ["FREE", "FREE"])


def test_rerun_of_a_stopped_parent_builds_each_arch_once(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=False)
    first = [t["id"] for t in children(kojid, parent)]
    state, _ = run_parent(hub, kojid, parent)
    assert (state, [t["id"] for t in children(kojid, parent)], len(backend.requests)) == (
        "CLOSED",
        first,
        2,
    )


def test_cancelling_the_waiting_parent_cancels_its_subtasks_and_the_nvr(
    hub, kojid, backend, source
):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=True)
    states = [koji.TASK_STATES[t["state"]] for t in children(kojid, parent)]
    assert (build_state(kojid), states) == ("CANCELED", ["CANCELED", "CANCELED"])


def test_nvr_of_a_dead_parent_is_refunded_by_the_next_build(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    stop_when_waiting(hub, kojid, parent, cancel=False)
    fault = koji.xmlrpcplus.Fault(1000, "The task process was killed.")
    kojid.session.host.failTask(parent, koji.xmlrpcplus.dumps(fault))  # as the worker does
    state, _ = run_parent(hub, kojid, kojid.submit(source, OPTS))
    assert (state, build_state(kojid)) == ("CLOSED", "COMPLETE")
