"""The hub plugin's postTag callback: one promoteContainer task, never a failed tag."""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.config import HUB_CONFIG_ENV
from tests.builder_harness import import_image_build

RULE = """
[promote:demo-stable]
registry = 127.0.0.1:5001
repository_prefix = released
floating_tags = latest
signing_identity = sandbox
"""


@pytest.fixture
def hub(sandbox_hub, tmp_path, monkeypatch):
    config = tmp_path / "hub_containerbuild.conf"
    config.write_text(RULE)
    monkeypatch.setenv(HUB_CONFIG_ENV, str(config))
    for tag in ("demo-stable", "demo-other"):
        sandbox_hub.add_tag(tag, arches=None)
        sandbox_hub.add_package(tag, "demo-image", "alice")
    return sandbox_hub


@pytest.fixture
def build(hub, tmp_path):
    return import_image_build(hub, str(tmp_path / "b1"), "demo-image-1.0-1", {"index": {}})


def promote_tasks(hub) -> list[dict]:
    return hub.db.all("SELECT * FROM tasks WHERE method = 'promoteContainer'")


def tagged(hub, tag: str) -> list[str]:
    return [b["nvr"] for b in hub.session("admin").listTagged(tag)]


def test_tagging_an_image_build_into_a_rule_tag_creates_one_promote_task(hub, build):
    hub.tag_build("demo-stable", build["id"])
    (task,) = promote_tasks(hub)
    params = koji.xmlrpcplus.loads(task["request"])[0]
    assert params == (
        build["id"],
        "demo-stable",
        {
            "tag": "demo-stable",
            "registry": "127.0.0.1:5001",
            "signing_identity": "sandbox",
            "repository_prefix": "released",
            "floating_tags": ["latest"],
        },
    )


def test_promote_task_runs_in_the_rule_channel_owned_by_the_tagging_user(hub, build):
    hub.tag_build("demo-stable", build["id"])
    (task,) = promote_tasks(hub)
    channel = hub.db.one("SELECT name FROM channels WHERE id = ?", (task["channel_id"],))
    owner = hub.db.one("SELECT name FROM users WHERE id = ?", (task["owner"],))
    assert (channel["name"], owner["name"]) == ("container", "admin")


def test_tagging_into_a_tag_without_a_rule_creates_no_task(hub, build):
    hub.tag_build("demo-other", build["id"])
    assert promote_tasks(hub) == []


def test_tagging_a_build_that_is_not_an_image_creates_no_task(hub, tmp_path):
    other = import_image_build(hub, str(tmp_path / "b2"), "demo-image-2.0-1", None)
    hub.tag_build("demo-stable", other["id"])
    assert promote_tasks(hub) == []


def test_a_task_that_cannot_be_created_never_fails_the_tag(hub, build, tmp_path, monkeypatch):
    config = tmp_path / "no-channel.conf"
    config.write_text(RULE + "channel = no-such-channel\n")
    monkeypatch.setenv(HUB_CONFIG_ENV, str(config))
    hub.tag_build("demo-stable", build["id"])
    assert (tagged(hub, "demo-stable"), promote_tasks(hub)) == (["demo-image-1.0-1"], [])


def test_a_broken_plugin_config_never_fails_the_tag(hub, build, tmp_path, monkeypatch):
    config = tmp_path / "broken.conf"
    config.write_text("[promote:demo-stable]\nregistry = not a registry\n")
    monkeypatch.setenv(HUB_CONFIG_ENV, str(config))
    hub.tag_build("demo-stable", build["id"])
    assert (tagged(hub, "demo-stable"), promote_tasks(hub)) == (["demo-image-1.0-1"], [])


def test_an_exception_inside_the_callback_never_fails_the_tag(hub, build, monkeypatch):
    from koji_containerbuild.promote import hubside

    def explode(*args, **kwargs):
        raise RuntimeError("rules exploded")

    monkeypatch.setattr(hubside, "load_hub_config", explode)
    hub.tag_build("demo-stable", build["id"])
    assert tagged(hub, "demo-stable") == ["demo-image-1.0-1"]


def test_sandbox_hub_fails_the_tag_when_a_callback_raises_as_kojihub_does(hub, build):
    def failing(cbtype, **kwargs):
        raise RuntimeError("a plugin's bug")

    hub.callbacks.setdefault("postTag", []).append(failing)
    with pytest.raises(koji.CallbackError, match="Error running postTag callback"):
        hub.tag_build("demo-other", build["id"])
    assert tagged(hub, "demo-other") == []


def test_sandbox_hub_passes_tag_build_user_and_force_to_post_tag(hub, build):
    seen = []
    hub.callbacks.setdefault("postTag", []).append(lambda cbtype, **kws: seen.append(kws))
    hub.tag_build("demo-other", build["id"])
    (kws,) = seen
    assert (kws["tag"]["name"], kws["build"]["nvr"], kws["user"]["name"], kws["force"]) == (
        "demo-other",
        "demo-image-1.0-1",
        "admin",
        False,
    )


def test_promote_task_of_a_task_tagging_is_owned_by_the_task_owner_not_the_host(hub, build):
    task = hub.session("alice").buildContainer(
        "git://127.0.0.1/containers/demo-image#abc", "demo", {"git_branch": "main"}
    )
    hub.session("builder").host.openTask(task)
    hub.session("builder").host.tagBuild(task, "demo-stable", build["id"])
    (promote,) = promote_tasks(hub)
    owner = hub.db.one("SELECT name FROM users WHERE id = ?", (promote["owner"],))
    assert owner["name"] == "alice"


def test_channel_policy_sees_the_release_tag_of_a_promote_task(hub, build):
    hub.add_channel("releases")
    hub.set_policy(
        "channel",
        "method promoteContainer && tag demo-stable :: use releases\nall :: use default",
    )
    hub.tag_build("demo-stable", build["id"])
    (task,) = promote_tasks(hub)
    channel = hub.db.one("SELECT name FROM channels WHERE id = ?", (task["channel_id"],))
    assert channel["name"] == "releases"
