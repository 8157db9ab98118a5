"""SandboxHub and InProcessSession: the Koji hub stand-in, called in-process."""

from __future__ import annotations

import textwrap

import koji
import koji.daemon
import koji.util
import koji.xmlrpcplus
import pytest

from koji_containerbuild.sandbox.kojihub import api_maketask
from koji_containerbuild.sandbox.kojihub.hub import SandboxHub
from tests.sandbox_hub_harness import _make

PLUGIN = textwrap.dedent(
    """
    import kojihub
    from koji.context import context
    from koji.plugin import export, export_as

    @export
    def sayHello(name, shout=False):
        context.session.assertLogin()
        text = "hello %s from %s" % (name, context.session.user_data["name"])
        return text.upper() if shout else text

    @export_as("startThing")
    def _start_thing(target, channel=None):
        context.session.assertLogin()
        kojihub.get_build_target(target, strict=True)
        opts = {"channel": channel} if channel else {}
        return kojihub.make_task("thing", [target], **opts)

    def not_exported():
        return 1
    """
)


@pytest.fixture
def plugin_hub(tmp_path, sandbox_hub):
    path = tmp_path / "hub_tiny.py"
    path.write_text(PLUGIN)
    sandbox_hub.load_plugin(str(path))
    return sandbox_hub


def test_plugin_export_is_an_rpc_with_the_caller_session(plugin_hub):
    alice = plugin_hub.session("alice")
    assert alice.sayHello("bob", shout=True) == "HELLO BOB FROM ALICE"


def test_plugin_export_requires_login(plugin_hub):
    with pytest.raises(koji.ActionNotAllowed):
        plugin_hub.session().sayHello("bob")


def test_plugin_only_exports_decorated_functions(plugin_hub):
    with pytest.raises(koji.GenericError, match="Invalid method: not_exported"):
        plugin_hub.session("alice").not_exported()


def test_plugin_make_task_uses_requested_channel(plugin_hub):
    task_id = plugin_hub.session("alice").startThing("demo", channel="container")
    info = plugin_hub.session().getTaskInfo(task_id, request=True)
    channel = plugin_hub.session().getChannel(info["channel_id"])
    assert (info["method"], info["request"], channel["name"]) == ("thing", ["demo"], "container")
    assert info["owner"] == plugin_hub.session().getUser("alice")["id"]
    assert info["state"] == koji.TASK_STATES["FREE"]


def test_make_task_defaults_to_default_channel(plugin_hub):
    task_id = plugin_hub.session("alice").startThing("demo")
    info = plugin_hub.session().getTaskInfo(task_id)
    assert plugin_hub.session().getChannel(info["channel_id"])["name"] == "default"


def test_make_task_unknown_channel_is_refused(plugin_hub):
    with pytest.raises(koji.GenericError, match="No such channel: nowhere"):
        plugin_hub.session("alice").startThing("demo", channel="nowhere")
    assert plugin_hub.session().listTasks() == []


def test_plugin_that_fails_to_import_takes_the_hub_offline(tmp_path):
    bad = tmp_path / "hub_broken.py"
    bad.write_text("import no_such_module_here\n")
    hub = SandboxHub(str(tmp_path / "top"), hub_plugins=[str(bad)])
    with pytest.raises(koji.ServerOffline):
        hub.session().getAPIVersion()


def test_wrong_arguments_are_parameter_errors(sandbox_hub):
    with pytest.raises(koji.ParameterError):
        sandbox_hub.session().getTag()


def test_unmarshallable_arguments_fail_like_on_the_wire(sandbox_hub):
    with pytest.raises(TypeError):
        sandbox_hub.session().getTag(object())


def test_calls_are_recorded_in_order(sandbox_hub):
    session = sandbox_hub.session("alice")
    session.getTag("demo-build")
    assert session.host is not None  # attribute access alone is no call
    session.getBuildTarget("demo", strict=True)
    assert session.calls == [
        ("getTag", ("demo-build",), {}),
        ("getBuildTarget", ("demo",), {"strict": True}),
    ]


def test_demo_setup(sandbox_hub):
    session = sandbox_hub.session("alice")
    target = session.getBuildTarget("demo")
    assert (target["build_tag_name"], target["dest_tag_name"]) == ("demo-build", "demo-candidate")
    assert session.getTag("demo-build")["arches"] == "x86_64"
    pkg = session.getPackageConfig("demo-candidate", "demo-image")
    assert (pkg["owner_name"], pkg["blocked"]) == ("alice", False)
    assert sandbox_hub.session("admin").hasPerm("admin")
    assert not session.hasPerm("admin")


def test_get_build_target_strict_missing(sandbox_hub):
    session = sandbox_hub.session()
    assert session.getBuildTarget("nope") is None
    with pytest.raises(koji.GenericError, match="No such build target: nope"):
        session.getBuildTarget("nope", strict=True)


def test_host_opens_task_once(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    builder = sandbox_hub.session("builder")
    assert [t["id"] for t in builder.host.getTasks()] == [task_id]
    data = builder.host.openTask(task_id)
    assert data["request"] == ["demo"]
    assert builder.host.openTask(task_id) is None
    assert builder.getTaskInfo(task_id)["state"] == koji.TASK_STATES["OPEN"]


def test_host_does_not_see_tasks_of_other_channels(sandbox_hub):
    sandbox_hub.add_channel("elsewhere")
    _make(sandbox_hub, "thing", ["demo"], channel="elsewhere")
    assert sandbox_hub.session("builder").host.getTasks() == []


def test_closed_task_result(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    builder = sandbox_hub.session("builder")
    builder.host.openTask(task_id)
    response = koji.xmlrpcplus.dumps(({"koji_builds": ["1"]},), methodresponse=1)
    builder.host.closeTask(task_id, response)
    assert sandbox_hub.session().getTaskResult(task_id) == {"koji_builds": ["1"]}


def test_failed_task_result_raises_the_stored_fault(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    builder = sandbox_hub.session("builder")
    builder.host.openTask(task_id)
    fault = koji.xmlrpcplus.Fault(koji.BuildError.faultCode, "Dockerfile is missing")
    builder.host.failTask(task_id, koji.xmlrpcplus.dumps(fault, methodresponse=1))
    with pytest.raises(koji.BuildError, match="Dockerfile is missing"):
        sandbox_hub.session().getTaskResult(task_id)
    assert sandbox_hub.session().getTaskResult(task_id, raise_fault=False)["faultCode"] == 1005


def test_cancel_by_owner_and_result_of_canceled(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    sandbox_hub.session("alice").cancelTask(task_id)
    assert sandbox_hub.session().getTaskInfo(task_id)["state"] == koji.TASK_STATES["CANCELED"]
    with pytest.raises(koji.GenericError, match="is canceled"):
        sandbox_hub.session().getTaskResult(task_id)


def test_cancel_by_someone_else_is_refused(sandbox_hub):
    sandbox_hub.add_user("mallory", "m")
    task_id = _make(sandbox_hub, "thing", ["demo"])
    with pytest.raises(koji.ActionNotAllowed):
        sandbox_hub.session("mallory").cancelTask(task_id)
    sandbox_hub.session("admin").cancelTask(task_id)


def test_host_running_the_task_may_cancel_it(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    builder = sandbox_hub.session("builder")
    builder.host.openTask(task_id)
    builder.cancelTask(task_id)
    assert sandbox_hub.session().getTaskInfo(task_id)["state"] == koji.TASK_STATES["CANCELED"]


def test_host_not_running_the_task_may_not_cancel_it(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    with pytest.raises(koji.ActionNotAllowed):
        sandbox_hub.session("builder").cancelTask(task_id)


def test_free_tasks_makes_task_available_again(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    builder = sandbox_hub.session("builder")
    builder.host.openTask(task_id)
    builder.host.freeTasks([task_id])
    assert builder.getTaskInfo(task_id)["state"] == koji.TASK_STATES["FREE"]
    assert builder.host.openTask(task_id)["id"] == task_id


def test_host_api_needs_a_host(sandbox_hub):
    with pytest.raises(koji.AuthError):
        sandbox_hub.session("alice").host.getID()


def test_assert_policy_default_allows_build_from_scm(sandbox_hub):
    builder = sandbox_hub.session("builder")
    builder.host.assertPolicy("build_from_scm", {"scm_host": "example.com"})
    sandbox_hub.set_policy("build_from_scm", "all :: deny not from here")
    with pytest.raises(koji.ActionNotAllowed, match="not from here"):
        builder.host.assertPolicy("build_from_scm", {})
    assert builder.evalPolicy("build_from_scm", {}) == "deny not from here"


def test_multicall_reports_faults_per_call(sandbox_hub):
    calls = [
        {"methodName": "getTag", "params": ["demo-build"]},
        {"methodName": "getTag", "params": ["nope", {"strict": True, "__starstar": True}]},
    ]
    first, second = sandbox_hub.session().multiCall(calls)
    assert first[0]["name"] == "demo-build"
    assert second["faultCode"] == koji.GenericError.faultCode
    assert "No such tagInfo" in second["faultString"]


def test_grant_permission_needs_admin(sandbox_hub):
    with pytest.raises(koji.ActionNotAllowed, match="admin permission required"):
        sandbox_hub.session("alice").grantPermission("alice", "image")
    sandbox_hub.session("admin").grantPermission("alice", "image")
    assert sandbox_hub.session("alice").getPerms() == ["image"]


def test_state_is_shared_through_the_database(sandbox_hub):
    other = SandboxHub(sandbox_hub.topdir)
    assert other.session().getBuildTarget("demo")["dest_tag_name"] == "demo-candidate"


def test_a_hub_plugin_that_is_missing_takes_the_hub_offline(tmp_path):
    hub = SandboxHub(str(tmp_path / "koji"), hub_plugins=[str(tmp_path / "hub_missing.py")])
    with pytest.raises(koji.ServerOffline, match="server startup error"):
        hub.session().getAPIVersion()


def test_a_policy_that_is_not_rule_text_is_refused(sandbox_hub):
    with pytest.raises(ValueError, match="must be koji"):
        sandbox_hub.set_policy("tag", "allow")


def test_channel_policy_sends_a_child_task_to_its_parents_channel(sandbox_hub):
    admin = sandbox_hub.session("admin")
    parent = admin.makeTask("thing", ["demo"], channel="container")
    sandbox_hub.session("builder").host.openTask(parent)
    child = sandbox_hub.run_as("admin", api_maketask.make_task, "thing", ["demo"], parent=parent)
    assert admin.getTaskInfo(child)["channel_id"] == admin.getChannel("container")["id"]


def test_each_hub_of_a_process_reads_its_own_plugin_config(tmp_path, monkeypatch):
    """Two sandboxes in one process (the e2e tests'): a call reads its own hub's rules."""
    from koji_containerbuild.config import HUB_CONFIG_ENV, load_hub_config

    monkeypatch.setenv(HUB_CONFIG_ENV, str(tmp_path / "the-last-started.conf"))
    hubs = []
    for name in ("first", "second"):
        config = tmp_path / f"{name}.conf"
        config.write_text(f"[channels]\nbuildcontainer = {name}\n")
        hub = SandboxHub(str(tmp_path / name))
        hub.plugin_config = str(config)
        hubs.append(hub)
    seen = [hub.run_as(None, lambda: load_hub_config().channels["buildContainer"]) for hub in hubs]
    assert seen == ["first", "second"]
