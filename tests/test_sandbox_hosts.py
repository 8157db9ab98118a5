"""Which host gets which task on the sandbox hub: kojihub's scheduler bins.

kojihub's scheduler assigns a task only to an enabled host in the task's
channel whose arches list the task's arch (noarch: any such host); kojid opens
only what it was assigned. The sandbox hub hands out and opens tasks by the
same rule.
"""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.sandbox.env import hosts as sandbox_hosts

ARM_HOST = "builder-arm"


@pytest.fixture
def two_arch_hub(sandbox_hub):
    """builder (x86_64) and builder-arm (aarch64), both in channel container."""
    sandbox_hub.set_host("builder", arches="x86_64")
    sandbox_hub.add_user(ARM_HOST, ARM_HOST, host=True, arches="aarch64")
    sandbox_hub.add_host_to_channel(ARM_HOST, "container")
    return sandbox_hub


def new_task(hub, arch: str, channel: str = "container") -> int:
    return hub.session("admin").makeTask("buildContainer", [], channel=channel, arch=arch)


def listed_for(hub, host: str) -> list[int]:
    return [task["id"] for task in hub.session(host).host.getTasks()]


def test_an_aarch64_task_is_offered_to_the_aarch64_host_only(two_arch_hub):
    task_id = new_task(two_arch_hub, "aarch64")
    assert task_id in listed_for(two_arch_hub, ARM_HOST)
    assert task_id not in listed_for(two_arch_hub, "builder")


def test_the_x86_64_host_cannot_open_an_aarch64_task(two_arch_hub):
    task_id = new_task(two_arch_hub, "aarch64")
    assert two_arch_hub.session("builder").host.openTask(task_id) is None
    assert two_arch_hub.session("admin").getTaskInfo(task_id)["state"] == koji.TASK_STATES["FREE"]


def test_the_aarch64_host_opens_an_aarch64_task(two_arch_hub):
    task_id = new_task(two_arch_hub, "aarch64")
    opened = two_arch_hub.session(ARM_HOST).host.openTask(task_id)
    assert opened["id"] == task_id
    arm_id = two_arch_hub.session(ARM_HOST).host.getID()
    assert two_arch_hub.session("admin").getTaskInfo(task_id)["host_id"] == arm_id


def test_a_noarch_task_is_offered_to_every_host_of_its_channel(two_arch_hub):
    task_id = new_task(two_arch_hub, "noarch")
    assert task_id in listed_for(two_arch_hub, ARM_HOST)
    assert task_id in listed_for(two_arch_hub, "builder")


def test_a_host_cannot_open_a_task_of_a_channel_it_is_not_in(two_arch_hub):
    two_arch_hub.add_channel("elsewhere")
    task_id = new_task(two_arch_hub, "noarch", channel="elsewhere")
    assert task_id not in listed_for(two_arch_hub, "builder")
    assert two_arch_hub.session("builder").host.openTask(task_id) is None


def test_a_disabled_host_is_offered_no_task(two_arch_hub):
    new_task(two_arch_hub, "aarch64")
    two_arch_hub.set_host(ARM_HOST, enabled=False)
    assert listed_for(two_arch_hub, ARM_HOST) == []


def test_list_hosts_filters_by_arch(two_arch_hub):
    names = [host["name"] for host in two_arch_hub.session("admin").listHosts(arches=["aarch64"])]
    assert names == [ARM_HOST]


def test_list_hosts_filters_by_channel(two_arch_hub):
    two_arch_hub.add_channel("elsewhere")
    two_arch_hub.add_host_to_channel(ARM_HOST, "elsewhere")
    listed = two_arch_hub.session("admin").listHosts(channelID="elsewhere")
    assert [host["name"] for host in listed] == [ARM_HOST]


def test_apply_hosts_gives_each_host_its_arches_and_the_container_channel(sandbox_hub):
    hosts = sandbox_hosts.parse_hosts("x86_64,aarch64", "x86_64")
    passwords = {"builder": "b1", "builder2": "b2"}
    sandbox_hosts.apply_hosts(sandbox_hub, hosts, passwords, "container", "koji-containerbuild")
    listed = sandbox_hub.session("admin").listHosts(channelID="container")
    assert [(host["name"], host["arches"]) for host in listed] == [
        ("builder", "x86_64"),
        ("builder2", "aarch64"),
    ]


def test_apply_hosts_disables_hosts_left_out(sandbox_hub):
    sandbox_hub.add_user("builder2", "b2", host=True, arches="aarch64")
    hosts = sandbox_hosts.parse_hosts("1", "x86_64")
    sandbox_hosts.apply_hosts(sandbox_hub, hosts, {"builder": "b1"}, "container", "cg")
    enabled = sandbox_hub.session("admin").listHosts(enabled=True)
    assert [host["name"] for host in enabled] == ["builder"]
