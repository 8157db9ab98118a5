"""Koji hub plugin: the buildContainer and buildSourceContainer RPCs.

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

# Same as koji_containerbuild.hub.TASK_SIGNATURES, repeated here so that hub
# policies understand these tasks even when the library cannot be imported.
koji.tasks.LEGACY_SIGNATURES.setdefault(
    "buildContainer", [[["src", "target", "opts"], None, None, (None,)]]
)
koji.tasks.LEGACY_SIGNATURES.setdefault(
    "buildSourceContainer", [[["target", "opts"], None, None, (None,)]]
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
