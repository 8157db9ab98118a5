"""The sandbox hub as the tests set it up: the real hub plugin and the demo's users and tags."""

from __future__ import annotations

from pathlib import Path

HUB_PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "hub" / "hub_containerbuild.py"


def make_sandbox_hub(topdir: str):
    """alice (user), admin, builder (host in channel container), target demo."""
    from koji_containerbuild.sandbox.kojihub.hub import SandboxHub

    hub = SandboxHub(topdir, hub_plugins=[str(HUB_PLUGIN)])
    hub.add_user("alice", "alice")
    hub.add_user("admin", "admin", perms=["admin"])
    hub.add_user("builder", "builder", host=True)
    hub.add_channel("container")
    hub.add_host_to_channel("builder", "container")
    hub.add_tag("demo-build", arches="x86_64")
    hub.add_tag("demo-candidate", arches=None)
    hub.add_target("demo", "demo-build", "demo-candidate")
    hub.add_package("demo-candidate", "demo-image", "alice")
    return hub
