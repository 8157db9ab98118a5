"""Builds racing each other for the same NVR, through the real koji CLI and the sandbox."""

from __future__ import annotations

import contextlib
import functools
import threading

import koji
import pytest

from koji_containerbuild.sandbox.env import runtime
from tests.e2e.test_e2e import build, publish, task_state, wait_for

pytestmark = pytest.mark.e2e


def test_four_builds_without_a_release_started_together_all_succeed(sandbox, tmp_path):
    session = sandbox.session()
    component = "e2e-race"
    text = (
        f"FROM {runtime.BASE_IMAGE}\n"
        f'LABEL com.redhat.component="{component}" name="e2e/{component}" version="1.0"\n'
        "RUN echo racing\n"
    )
    url = publish(sandbox, tmp_path, component, text)
    # The four reservations reach the hub together, each having picked release 1.
    reserve = sandbox.hub.exports["CGInitBuild"]
    together = threading.Barrier(4, timeout=120)
    first_round = iter(range(4))

    @functools.wraps(reserve)
    def raced(*args, **kwargs):
        if next(first_round, None) is not None:  # retries pass straight through
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
        return reserve(*args, **kwargs)

    sandbox.hub.exports["CGInitBuild"] = raced
    try:
        tasks = [build(sandbox, url, wait=False)[1] for _ in range(4)]
        final = ("CLOSED", "FAILED", "CANCELED")
        wait_for(lambda: all(task_state(session, t) in final for t in tasks), timeout=400)
    finally:
        sandbox.hub.exports["CGInitBuild"] = reserve
    outcomes = [session.getTaskResult(t, raise_fault=False) for t in tasks]
    assert [task_state(session, t) for t in tasks] == ["CLOSED"] * 4, [
        str(o)[-700:] for o in outcomes
    ]
    builds = session.listBuilds(packageID=session.getPackage(component)["id"])
    assert sorted((b["release"], koji.BUILD_STATES[b["state"]]) for b in builds) == [
        (str(n), "COMPLETE") for n in (1, 2, 3, 4)
    ]
