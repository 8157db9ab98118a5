"""Koji hub plugin: the buildContainer and buildSourceContainer RPCs, promotion on tag.

A hub plugin that fails to import takes the whole hub offline, so this file
imports only koji and the standard library at module level. kojihub, the call
context and the koji_containerbuild library are imported per call: if any of
them is missing or broken, only these two RPCs fail, with a sentence saying so.
The rules themselves live in koji_containerbuild.hub.
"""

import logging

import koji
import koji.plugin
import koji.tasks

log = logging.getLogger("koji.plugin.containerbuild.hub_plugin")

# The one home of the task signatures (kept here, not in the library, so that
# hub policies understand these tasks even when the library cannot be imported).
koji.tasks.LEGACY_SIGNATURES.setdefault(
    "buildContainer", [[["src", "target", "opts"], None, None, (None,)]]
)
koji.tasks.LEGACY_SIGNATURES.setdefault(
    "buildSourceContainer", [[["target", "opts"], None, None, (None,)]]
)
# its ``tag`` argument gives hub policies (channel, ...) the release tag's name
koji.tasks.LEGACY_SIGNATURES.setdefault(
    "promoteContainer", [[["build_id", "tag", "rule"], None, None, ()]]
)
koji.tasks.LEGACY_SIGNATURES.setdefault(
    "buildContainerArch", [[["src", "target", "arch", "opts"], None, None, (None,)]]
)


def _runtime():
    """Import what a call needs; a failure faults this call only, never the hub."""
    try:
        import kojihub
        from koji.context import context

        from koji_containerbuild import hub as rules
    except Exception as error:  # any breakage of an optional import, not just ImportError
        log.exception("koji-containerbuild hub plugin cannot load its modules")
        raise koji.GenericError(
            f"Container builds are not available on this hub ({type(error).__name__}: "
            f"{error}): ask a Koji admin to install the koji-containerbuild package."
        ) from None
    return kojihub, context, rules


@koji.plugin.export
def buildContainer(src, target, opts=None, priority=None, channel=None):
    """Create a buildContainer task (also flatpak builds: opts.flatpak); return its id."""
    kojihub, context, rules = _runtime()
    return rules.build_container(
        kojihub, context.session, rules.hub_config(), src, target, opts, priority, channel
    )


@koji.plugin.export
def buildSourceContainer(target, opts=None, priority=None, channel=None):
    """Create a buildSourceContainer task; return its id."""
    kojihub, context, rules = _runtime()
    return rules.build_source_container(
        kojihub, context.session, rules.hub_config(), target, opts, priority, channel
    )


@koji.plugin.ignore_error
@koji.plugin.callback("postTag")
def promote_tagged_build(cbtype, tag=None, build=None, user=None, force=False, **kwargs):
    """An image build tagged into a tag with a promotion rule gets a promoteContainer task.

    Runs inside the tag's transaction: it never raises (a raising callback would
    fail the tag) and only creates the task.
    """
    try:
        import kojihub

        from koji_containerbuild.promote import hubside
    except Exception:
        log.exception("koji-containerbuild cannot promote: its modules do not load")
        return
    hubside.promotion_task(kojihub, tag, build, user)
