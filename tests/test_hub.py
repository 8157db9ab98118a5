"""Hub-side submission rules of koji_containerbuild.hub, with a minimal kojihub fake.

The full path through the real plugin file and the sandbox hub is in
test_hub_plugin.py; this file covers the rules one by one.
"""

import importlib

import koji
import pytest
from koji.context import context

from koji_containerbuild import hub
from koji_containerbuild.config import HubConfig

SRC = "git+https://src.example.com/containers/app.git#0123456789abcdef"


@pytest.fixture
def rules(sandbox_hub):
    """Runs koji_containerbuild.hub inside the sandbox hub's call context."""
    for channel in ("fast", "img", "sources"):
        sandbox_hub.add_channel(channel)
    sandbox_hub.add_user("carol", "carol", perms=["container-build"])
    sandbox_hub.add_user("chuck", "chuck", perms=["container-channel"])
    return Rules(sandbox_hub)


class Rules:
    def __init__(self, sandbox_hub):
        self.hub = sandbox_hub
        # the stand-in module the sandbox loaded the real hub plugin against
        self.kojihub = importlib.import_module("kojihub")

    def submit(self, user="alice", config=None, **kwargs) -> int:
        args = {"src": SRC, "target": "demo", "opts": {"git_branch": "main"}}
        args.update(kwargs)
        return self.hub.run_as(
            user,
            lambda: hub.build_container(
                self.kojihub, context.session, config or HubConfig(), **args
            ),
        )

    def submit_source(self, target, opts, user="alice", config=None, **kwargs) -> int:
        return self.hub.run_as(
            user,
            lambda: hub.build_source_container(
                self.kojihub, context.session, config or HubConfig(), target, opts, **kwargs
            ),
        )

    def tasks(self) -> list[dict]:
        """Every task: method, arguments, channel name and priority."""
        session = self.hub.session("admin")
        found = []
        for task in session.listTasks(queryOpts={"order": "id"}):
            info = session.getTaskInfo(task["id"], request=True)
            found.append(
                {
                    "id": info["id"],
                    "method": info["method"],
                    "request": info["request"],
                    "channel": session.getChannel(info["channel_id"])["name"],
                    "priority": info["priority"],
                }
            )
        return found

    def refused(self, exc_class, **kwargs) -> str:
        with pytest.raises(exc_class) as caught:
            self.submit(**kwargs)
        assert self.tasks() == []
        return str(caught.value)


def test_build_creates_one_task_in_the_default_channel(rules):
    task_id = rules.submit()
    assert rules.tasks() == [
        {
            "id": task_id,
            "method": "buildContainer",
            "request": [SRC, "demo", {"git_branch": "main"}],
            "channel": "container",
            "priority": koji.PRIO_DEFAULT,
        }
    ]


def test_stored_opts_are_normalised(rules):
    opts = {
        "git_branch": "main",
        "scratch": True,
        "isolated": False,
        "release": None,
        "arch_override": "x86_64,aarch64",
    }
    rules.submit(opts=opts)
    assert rules.tasks()[0]["request"][2] == {
        "git_branch": "main",
        "scratch": True,
        "arch_override": "x86_64 aarch64",
    }


def test_flatpak_build_keeps_the_flatpak_flag(rules):
    rules.submit(opts={"git_branch": "main", "flatpak": True})
    assert rules.tasks()[0]["request"][2] == {"git_branch": "main", "flatpak": True}


def test_default_channel_comes_from_config(rules):
    config = HubConfig(channels={"buildContainer": "img", "buildSourceContainer": "src"})
    rules.submit(config=config)
    assert rules.tasks()[0]["channel"] == "img"


def test_missing_default_channel_names_the_admin_fix(rules):
    config = HubConfig(channels={"buildContainer": "nowhere", "buildSourceContainer": "c"})
    message = rules.refused(koji.ParameterError, config=config)
    assert message == (
        "The channel 'nowhere' that container builds run in does not exist on this hub: ask "
        "a Koji admin to create it ('koji add-host-to-channel HOST nowhere --new')."
    )


def test_anonymous_caller_is_refused(rules):
    message = rules.refused(koji.ActionNotAllowed, user=None)
    assert message == "you must be logged in for this operation"


def test_configured_build_permission_is_required(rules):
    config = HubConfig(build_permission="container-build")
    message = rules.refused(koji.ActionNotAllowed, config=config)
    assert message == (
        "Submitting container builds needs the 'container-build' permission: ask a Koji "
        "admin to grant it to you."
    )


@pytest.mark.parametrize("user", ["carol", "admin"])
def test_build_permission_or_admin_may_build(rules, user):
    config = HubConfig(build_permission="container-build")
    task_id = rules.submit(user=user, config=config)
    assert [task["id"] for task in rules.tasks()] == [task_id]


def test_permission_is_checked_before_the_arguments(rules):
    config = HubConfig(build_permission="container-build")
    rules.refused(koji.ActionNotAllowed, config=config, src="not a url", target="nope")


def test_positive_priority_is_relative_to_the_default(rules):
    rules.submit(priority=5)
    assert rules.tasks()[0]["priority"] == koji.PRIO_DEFAULT + 5


def test_negative_priority_is_refused_for_users(rules):
    message = rules.refused(koji.ActionNotAllowed, priority=-1)
    assert "Only admins may give a container build a negative" in message


def test_negative_priority_is_allowed_for_admins(rules):
    rules.submit(user="admin", priority=-5)
    assert rules.tasks()[0]["priority"] == koji.PRIO_DEFAULT - 5


@pytest.mark.parametrize("priority", ["5", 1.5, True])
def test_priority_must_be_an_integer(rules, priority):
    message = rules.refused(koji.ParameterError, priority=priority)
    assert message.startswith("The priority must be an integer")


def test_other_channel_is_refused_for_users(rules):
    message = rules.refused(koji.ActionNotAllowed, channel="fast")
    assert message == (
        "Only admins may send container builds to another channel than 'container': "
        "submit without a channel override."
    )


def test_other_channel_refusal_names_the_configured_permission(rules):
    config = HubConfig(channel_permission="container-channel")
    message = rules.refused(koji.ActionNotAllowed, config=config, channel="fast")
    assert "Only admins and users with the 'container-channel' permission" in message


def test_naming_the_default_channel_needs_no_permission(rules):
    rules.submit(channel="container")
    assert rules.tasks()[0]["channel"] == "container"


def test_admin_may_choose_another_channel(rules):
    rules.submit(user="admin", channel="fast")
    assert rules.tasks()[0]["channel"] == "fast"


def test_configured_channel_permission_may_choose_another_channel(rules):
    config = HubConfig(channel_permission="container-channel")
    rules.submit(user="chuck", config=config, channel="fast")
    assert rules.tasks()[0]["channel"] == "fast"


INVALID = [
    ({"src": "https://src.example.com/app.git#abc"}, "is not an SCM URL"),
    ({"src": "git://src.example.com/app.git"}, "has no '#revision'"),
    ({"target": "missing"}, "The build target 'missing' does not exist"),
    ({"target": None}, "The target must be the name of a Koji build target"),
    ({"opts": None}, "Option 'git_branch' (koji: --git-branch) is required"),
    ({"opts": ["scratch"]}, "The options must be a struct"),
    ({"opts": {"git_branch": "m", "bogus": 1}}, "Option 'bogus' is not known"),
    ({"channel": ""}, "The channel must be the name of a Koji channel"),
    ({"channel": "nowhere"}, "The channel 'nowhere' does not exist: pick one from"),
]


@pytest.mark.parametrize(("kwargs", "fragment"), INVALID)
def test_invalid_arguments_are_a_parameter_error_and_no_task(rules, kwargs, fragment):
    assert fragment in rules.refused(koji.ParameterError, **kwargs)


def test_all_argument_problems_are_reported_together(rules):
    message = rules.refused(
        koji.ParameterError,
        src="https://x/y#1",
        target="missing",
        opts={"git_branch": "m", "scratch": True, "isolated": True},
    )
    assert "is not an SCM URL" in message
    assert "'missing' does not exist" in message
    assert "'scratch' and 'isolated' cannot be used together" in message


def test_source_container_task_carries_target_and_opts(rules):
    task_id = rules.submit_source(
        "demo",
        {"koji_build_nvr": "app-1-1", "scratch": False, "koji_build_id": None},
        config=HubConfig(channels={"buildContainer": "c", "buildSourceContainer": "sources"}),
        priority=2,
    )
    assert rules.tasks() == [
        {
            "id": task_id,
            "method": "buildSourceContainer",
            "request": ["demo", {"koji_build_nvr": "app-1-1"}],
            "channel": "sources",
            "priority": koji.PRIO_DEFAULT + 2,
        }
    ]


def test_source_container_refusal_creates_no_task(rules):
    with pytest.raises(koji.ParameterError, match="are both missing"):
        rules.submit_source("demo", {})
    assert rules.tasks() == []


def test_broken_config_is_a_generic_fault_naming_the_file(tmp_path):
    path = tmp_path / "hub.conf"
    path.write_text("[hub]\nbuild_perm = x\n")
    with pytest.raises(koji.GenericError) as caught:
        hub.hub_config(str(path))
    assert type(caught.value) is koji.GenericError
    assert str(path) in str(caught.value)
    assert "ask a Koji admin to fix it" in str(caught.value)
