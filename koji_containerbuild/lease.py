"""The lease of a build: its Koji task, read anonymously from the hub.

A backend build outlives the task process on purpose (a kojid restart frees
the task and re-runs it later, maybe on another host, and the re-run
re-attaches). So the lease is not a heartbeat of the process, which would
lapse during a restart, but the task's own state on the hub: while the task
is FREE, ASSIGNED or OPEN somebody will follow the build; once it is CLOSED,
FAILED or CANCELED nobody will, and a build still running for it must stop
and withdraw what it published unless the task imported it. The detached
local runner has no Koji login, so everything here works on an anonymous
session (getTaskInfo and getBuild need none). This module holds that rule
once for the runner and the task flow.
"""

from __future__ import annotations

import logging
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME + ".lease")

#: Task states in which the task will still follow (or re-attach to) its build.
TASK_RUNNING_STATES = (
    koji.TASK_STATES["FREE"],
    koji.TASK_STATES["OPEN"],
    koji.TASK_STATES["ASSIGNED"],
)

#: Seconds between two reads of the task state by a detached build.
LEASE_INTERVAL = 2.0


def task_state(session: Any, task_id: int) -> str | None:
    """The task's state name, or None when the hub cannot tell (unreachable, gone)."""
    try:
        info = session.getTaskInfo(task_id)
    except Exception as error:  # a hub outage must never stop a build
        logger.warning("Could not read the state of task %s: %s", task_id, error)
        return None
    if not info:
        return None
    return koji.TASK_STATES[info["state"]]


def task_is_over(session: Any, task_id: int) -> bool:
    """True only when the hub says the task ended: nobody will follow its build."""
    state = task_state(session, task_id)
    return state is not None and koji.TASK_STATES[state] not in TASK_RUNNING_STATES


def imported_by_task(session: Any, nvr: str | None, task_id: int) -> bool:
    """Whether Koji holds a COMPLETE build ``nvr`` imported by ``task_id``.

    Such a build's pull specs are a record: its pushes must stay even when
    the task failed after the import (killed before it could close).
    """
    if not nvr:
        return False
    build = session.getBuild(nvr)
    return bool(
        build
        and build["state"] == koji.BUILD_STATES["COMPLETE"]
        and build.get("task_id") == task_id
    )


def anonymous_session(hub_url: str) -> koji.ClientSession:
    """A session without login, retrying like kojid's own while the hub is away."""
    return koji.ClientSession(hub_url, {"anon_retry": True, "max_retries": 3, "retry_interval": 1})
