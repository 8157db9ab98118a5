"""The hub side of promotion: the postTag callback's decision, and the task it creates.

kojihub runs postTag callbacks inside the tag's own transaction, and a
callback that raises fails the whole tag call (koji.CallbackError). So this
never raises and does nothing slow: it reads the rules, looks at the build
already in hand and creates one promoteContainer task, or logs why not.
"""

from __future__ import annotations

import logging
from typing import Any

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.config import HubConfig, load_hub_config
from koji_containerbuild.promoteconfig import PROMOTE_METHOD

log = logging.getLogger(LOGGER_NAME + ".promote.hub")

#: The priority kojihub gives the tagBuild task; promotion follows it.
PROMOTE_PRIORITY = 10


def is_image_build(build: dict) -> bool:
    """A container image build (CG docker-image outputs, btype image)."""
    extra = build.get("extra") or {}
    return isinstance(extra.get("image"), dict) or "image" in (extra.get("typeinfo") or {})


def promotion_task(
    hub: Any, tag: dict, build: dict, user: dict, config: HubConfig | None = None
) -> int | None:
    """Create the promoteContainer task for ``build`` tagged into ``tag``; its id or None.

    Never raises: whatever goes wrong is logged and the tag stands.
    """
    try:
        config = config or load_hub_config()
        rule = config.promotions.get(tag.get("name"))
        if rule is None:
            return None
        nvr = build.get("nvr") or "{name}-{version}-{release}".format(**build)
        if not is_image_build(build):
            log.info("%s tagged into %s is not an image build: not promoted", nvr, rule.tag)
            return None
        savepoint = _savepoint(hub)
        try:
            task_id = hub.make_task(
                PROMOTE_METHOD,
                [build["id"], rule.tag, rule.as_task_arg()],
                channel=rule.channel,
                owner=user["id"],
                priority=PROMOTE_PRIORITY,
            )
        except Exception:
            if savepoint is not None:
                savepoint.rollback()
            raise
        log.info("promoteContainer task %s for %s tagged into %s", task_id, nvr, rule.tag)
        return task_id
    except Exception:
        log.exception("Could not create the promotion task for build %s in tag %s",
                      build.get("id"), tag.get("name"))  # fmt: skip
        return None


def _savepoint(hub: Any) -> Any:
    """kojihub.db.Savepoint when the hub has one: a failed insert must not spoil the tag."""
    savepoint_class = getattr(getattr(hub, "db", None), "Savepoint", None)
    return savepoint_class("promote_container") if savepoint_class else None
