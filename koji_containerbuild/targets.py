"""A build target's destination tag: the lookup and sentence the CLI and the builder share.

The CLI looks the tag up before it submits (a refusal is a usage error), the
builder again at the task's hub event (a refusal fails the task); both read
it here so the rule and its advice are written once.
"""

from __future__ import annotations

from typing import Any


class TargetError(ValueError):
    """The target cannot be built into; the message is one sentence with the fix."""


def dest_tag_of(session: Any, target: str, build_target: dict, event: int | None = None) -> dict:
    """The destination tag of ``build_target`` (getBuildTarget's answer) at ``event``.

    A target whose destination tag was deleted still names it: refused with
    a TargetError naming the tag and the target.
    """
    dest_tag = session.getTag(build_target["dest_tag"], event=event)
    if not dest_tag:
        raise TargetError(
            f"The destination tag {build_target['dest_tag_name']!r} of target {target!r} "
            "does not exist; ask a Koji admin to fix the target."
        )
    return dest_tag
