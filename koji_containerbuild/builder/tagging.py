"""Tag a build the plugin imported into its target's destination tag.

Done the way kojid's tagBuild task does it: ``host.tagBuild`` (the hub runs
the ``tag`` policy as the task's owner, checks the package list and the
tag's lock), then ``host.tagNotification`` with the outcome. A refusal fails
the task with the hub's sentence; the build stays imported, COMPLETE and
untagged, as in Koji. Builds the backend imports itself (OSBS: atomic-reactor)
are tagged by the backend, never here.
"""

from __future__ import annotations

import logging
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME + ".tagging")


def tag_imported_build(
    session: Any, task_id: int, dest_tag_id: int, dest_tag_name: str, build_id: int, nvr: str
) -> None:
    """Tag ``build_id`` into the destination tag as the task's owner; BuildError if refused."""
    owner_id = session.getTaskInfo(task_id)["owner"]
    try:
        session.host.tagBuild(task_id, dest_tag_id, build_id, force=False, fromtag=None)
    except koji.GenericError as error:
        failure = f"{type(error).__name__}: {error}"
        _notify(session, False, dest_tag_id, build_id, owner_id, failure)
        raise koji.BuildError(
            f"The build {nvr} was imported into Koji but not tagged into {dest_tag_name}: {error}"
        ) from None
    logger.info("tagged %s into %s", nvr, dest_tag_name)
    _notify(session, True, dest_tag_id, build_id, owner_id)


def _notify(
    session: Any, ok: bool, tag_id: int, build_id: int, owner_id: int, failure: str = ""
) -> None:
    """Tell the hub the outcome (it mails the tag's watchers); never fails the task."""
    try:
        if ok:
            session.host.tagNotification(True, tag_id, None, build_id, owner_id, False)
        else:
            session.host.tagNotification(False, tag_id, None, build_id, owner_id, False, failure)
    except Exception:
        logger.exception("Could not send the tag notification of build %s", build_id)
