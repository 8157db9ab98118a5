"""The lease rule: a build may go on while its task can still follow it (sandbox hub)."""

from __future__ import annotations

import socket

import koji
import koji.xmlrpcplus
import pytest

from koji_containerbuild import lease


@pytest.fixture
def builder(sandbox_hub):
    return sandbox_hub.session("builder")


@pytest.fixture
def task_id(sandbox_hub):
    return sandbox_hub.session("admin").makeTask("buildContainer", [], channel="container")


def test_a_free_task_holds_its_lease(builder, task_id):
    assert lease.task_is_over(builder, task_id) is False


def test_an_open_task_holds_its_lease(builder, task_id):
    builder.host.openTask(task_id)
    assert lease.task_is_over(builder, task_id) is False


def test_a_failed_task_lost_its_lease(builder, task_id):
    builder.host.openTask(task_id)
    fault = koji.xmlrpcplus.Fault(1000, "killed")
    builder.host.failTask(task_id, koji.xmlrpcplus.dumps(fault))
    assert lease.task_is_over(builder, task_id) is True


def test_a_hub_that_cannot_be_reached_never_ends_a_lease():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    session = koji.ClientSession(f"http://127.0.0.1:{port}/kojihub", {"max_retries": 0})
    assert lease.task_is_over(session, 1) is False


def test_an_anonymous_session_reads_the_task_state(hub_server, sandbox_hub, task_id):
    sandbox_hub.session("admin").cancelTask(task_id)
    assert lease.task_state(lease.anonymous_session(hub_server.url), task_id) == "CANCELED"


def test_a_reserved_build_is_not_imported(sandbox_hub, builder, task_id):
    sandbox_hub.grant_cg_access("builder", "koji-containerbuild")
    builder.CGInitBuild(
        "koji-containerbuild",
        {"name": "demo-image", "version": "1.0", "release": "1", "task_id": task_id},
    )
    assert lease.imported_by_task(builder, "demo-image-1.0-1", task_id) is False
