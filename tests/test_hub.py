"""Hub-side submission rules of koji_containerbuild.hub, with a minimal kojihub fake.

The full path through the real plugin file and the sandbox hub is in
test_hub_plugin.py; this file covers the rules one by one.
"""

import koji
import pytest

from koji_containerbuild import hub
from koji_containerbuild.config import HubConfig

SRC = "git+https://src.example.com/containers/app.git#0123456789abcdef"


class FakeSession:
    """context.session as kojihub's Session behaves for these calls."""

    def __init__(self, user="alice", perms=(), logged_in=True):
        self.logged_in = logged_in
        self.user_id = 7 if logged_in else None
        self.user_data = {"name": user} if logged_in else {}
        self.perms = set(perms)

    def assertLogin(self):
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")

    def hasPerm(self, name):
        return self.logged_in and name in self.perms

    def assertPerm(self, name):
        if not (self.hasPerm(name) or self.hasPerm("admin")):
            raise koji.ActionNotAllowed(f"{name} permission required")


class FakeKojiHub:
    """Only the two kojihub calls the rules make."""

    def __init__(self, targets=("demo",)):
        self.targets = set(targets)
        self.tasks = []

    def get_build_target(self, info, event=None, strict=False):
        return (
            {"name": info, "build_tag_name": "b", "dest_tag_name": "d"}
            if (info in self.targets)
            else None
        )

    def make_task(self, method, arglist, **opts):
        self.tasks.append((method, arglist, opts))
        return 100 + len(self.tasks)


def submit(session=None, config=None, kojihub=None, **kwargs):
    kojihub = kojihub or FakeKojiHub()
    args = {"src": SRC, "target": "demo", "opts": {"git_branch": "main"}}
    args.update(kwargs)
    task_id = hub.build_container(kojihub, session or FakeSession(), config or HubConfig(), **args)
    return task_id, kojihub


def refused(exc_class, kojihub=None, **kwargs):
    kojihub = kojihub or FakeKojiHub()
    with pytest.raises(exc_class) as caught:
        submit(kojihub=kojihub, **kwargs)
    assert kojihub.tasks == []
    return str(caught.value)


def test_build_creates_one_task_in_the_default_channel():
    task_id, kojihub = submit()
    assert task_id == 101
    assert kojihub.tasks == [
        ("buildContainer", [SRC, "demo", {"git_branch": "main"}], {"channel": "container"})
    ]


def test_stored_opts_are_normalised():
    opts = {
        "git_branch": "main",
        "scratch": True,
        "isolated": False,
        "release": None,
        "arch_override": "x86_64,aarch64",
    }
    _, kojihub = submit(opts=opts)
    assert kojihub.tasks[0][1][2] == {
        "git_branch": "main",
        "scratch": True,
        "arch_override": "x86_64 aarch64",
    }


def test_flatpak_build_keeps_the_flatpak_flag():
    _, kojihub = submit(opts={"git_branch": "main", "flatpak": True})
    assert kojihub.tasks[0][1][2] == {"git_branch": "main", "flatpak": True}


def test_default_channel_comes_from_config():
    config = HubConfig(channels={"buildContainer": "img", "buildSourceContainer": "src"})
    _, kojihub = submit(config=config)
    assert kojihub.tasks[0][2] == {"channel": "img"}


def test_anonymous_caller_is_refused():
    message = refused(koji.ActionNotAllowed, session=FakeSession(logged_in=False))
    assert message == "you must be logged in for this operation"


def test_configured_build_permission_is_required():
    config = HubConfig(build_permission="container-build")
    message = refused(koji.ActionNotAllowed, config=config)
    assert message == (
        "Submitting container builds needs the 'container-build' permission: ask a Koji "
        "admin to grant it to you."
    )


@pytest.mark.parametrize("perms", [{"container-build"}, {"admin"}])
def test_build_permission_or_admin_may_build(perms):
    config = HubConfig(build_permission="container-build")
    task_id, _ = submit(session=FakeSession(perms=perms), config=config)
    assert task_id == 101


def test_permission_is_checked_before_the_arguments():
    config = HubConfig(build_permission="container-build")
    refused(koji.ActionNotAllowed, config=config, src="not a url", target="nope")


def test_positive_priority_is_relative_to_the_default():
    _, kojihub = submit(priority=5)
    assert kojihub.tasks[0][2]["priority"] == koji.PRIO_DEFAULT + 5


def test_negative_priority_is_refused_for_users():
    message = refused(koji.ActionNotAllowed, priority=-1)
    assert "Only admins may give a container build a negative" in message


def test_negative_priority_is_allowed_for_admins():
    _, kojihub = submit(session=FakeSession(perms={"admin"}), priority=-5)
    assert kojihub.tasks[0][2]["priority"] == koji.PRIO_DEFAULT - 5


@pytest.mark.parametrize("priority", ["5", 1.5, True])
def test_priority_must_be_an_integer(priority):
    message = refused(koji.ParameterError, priority=priority)
    assert message.startswith("The priority must be an integer")


def test_other_channel_is_refused_for_users():
    message = refused(koji.ActionNotAllowed, channel="fast")
    assert message == (
        "Only admins may send container builds to another channel than 'container': "
        "submit without a channel override."
    )


def test_other_channel_refusal_names_the_configured_permission():
    config = HubConfig(channel_permission="container-channel")
    message = refused(koji.ActionNotAllowed, config=config, channel="fast")
    assert "Only admins and users with the 'container-channel' permission" in message


def test_naming_the_default_channel_needs_no_permission():
    _, kojihub = submit(channel="container")
    assert kojihub.tasks[0][2] == {"channel": "container"}


def test_admin_may_choose_another_channel():
    _, kojihub = submit(session=FakeSession(perms={"admin"}), channel="fast")
    assert kojihub.tasks[0][2] == {"channel": "fast"}


def test_configured_channel_permission_may_choose_another_channel():
    config = HubConfig(channel_permission="container-channel")
    session = FakeSession(perms={"container-channel"})
    _, kojihub = submit(session=session, config=config, channel="fast")
    assert kojihub.tasks[0][2] == {"channel": "fast"}


INVALID = [
    ({"src": "https://src.example.com/app.git#abc"}, "is not an SCM URL"),
    ({"src": "git://src.example.com/app.git"}, "has no '#revision'"),
    ({"target": "missing"}, "The build target 'missing' does not exist"),
    ({"target": None}, "The target must be the name of a Koji build target"),
    ({"opts": None}, "Option 'git_branch' is required"),
    ({"opts": ["scratch"]}, "The options must be a struct"),
    ({"opts": {"git_branch": "m", "bogus": 1}}, "Option 'bogus' is not known"),
    ({"channel": ""}, "The channel must be the name of a Koji channel"),
]


@pytest.mark.parametrize(("kwargs", "fragment"), INVALID)
def test_invalid_arguments_are_a_parameter_error_and_no_task(kwargs, fragment):
    assert fragment in refused(koji.ParameterError, **kwargs)


def test_all_argument_problems_are_reported_together():
    message = refused(
        koji.ParameterError,
        src="https://x/y#1",
        target="missing",
        opts={"git_branch": "m", "scratch": True, "isolated": True},
    )
    assert "is not an SCM URL" in message
    assert "'missing' does not exist" in message
    assert "'scratch' and 'isolated' cannot be used together" in message


def test_source_container_task_carries_target_and_opts():
    kojihub = FakeKojiHub()
    task_id = hub.build_source_container(
        kojihub,
        FakeSession(),
        HubConfig(channels={"buildContainer": "c", "buildSourceContainer": "sources"}),
        "demo",
        {"koji_build_nvr": "app-1-1", "scratch": False, "koji_build_id": None},
        priority=2,
    )
    assert task_id == 101
    assert kojihub.tasks == [
        (
            "buildSourceContainer",
            ["demo", {"koji_build_nvr": "app-1-1"}],
            {"channel": "sources", "priority": koji.PRIO_DEFAULT + 2},
        )
    ]


def test_source_container_refusal_creates_no_task():
    kojihub = FakeKojiHub()
    with pytest.raises(koji.ParameterError, match="are both missing"):
        hub.build_source_container(kojihub, FakeSession(), HubConfig(), "demo", {})
    assert kojihub.tasks == []


def test_task_signatures_let_policies_parse_the_task_params():
    signatures = hub.TASK_SIGNATURES
    params = koji.util.apply_argspec(
        signatures["buildContainer"][0], [SRC, "demo", {"scratch": True}], {}
    )
    assert params == {"src": SRC, "target": "demo", "opts": {"scratch": True}}
    params = koji.util.apply_argspec(signatures["buildSourceContainer"][0], ["demo"], {})
    assert params == {"target": "demo", "opts": None}


def test_broken_config_is_a_generic_fault_naming_the_file(tmp_path):
    path = tmp_path / "hub.conf"
    path.write_text("[hub]\nbuild_perm = x\n")
    with pytest.raises(koji.GenericError) as caught:
        hub.hub_config(str(path))
    assert type(caught.value) is koji.GenericError
    assert str(path) in str(caught.value)
    assert "ask a Koji admin to fix it" in str(caught.value)
