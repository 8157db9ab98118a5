"""Stand-in for the `kojihub` package, for hub plugins loaded by the SandboxHub.

Only the sandbox puts this directory on sys.path. It offers what the hub
plugin calls (make_task, get_build_target, get_channel), each with the real
hub's signature, delegating to the SandboxHub serving the current call; a
plugin that needs more adds it here with a contract test.
"""

from __future__ import annotations

from koji_containerbuild.sandbox.kojihub import api_core, api_maketask, api_tags

__all__ = ["get_build_target", "get_channel", "make_task"]


def make_task(method, arglist, **opts):
    """kojihub.make_task: opts channel, priority, arch, parent, label, owner, assign."""
    known = ("channel", "priority", "arch", "parent", "label", "owner", "assign")
    return api_maketask.make_task(method, arglist, **{k: v for k, v in opts.items() if k in known})


def get_build_target(info, event=None, strict=False):
    return api_tags.getBuildTarget(info, event=event, strict=strict)


def get_channel(channelInfo, strict=False):
    return api_core.getChannel(channelInfo, strict=strict)
