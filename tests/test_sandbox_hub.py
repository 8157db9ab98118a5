"""SandboxHub and InProcessSession: the Koji hub stand-in, called in-process."""

from __future__ import annotations

import hashlib
import io
import os
import textwrap

import koji
import koji.daemon
import koji.util
import koji.xmlrpcplus
import pytest

from koji_containerbuild.sandbox.kojihub import api_maketask
from koji_containerbuild.sandbox.kojihub.hub import SandboxHub

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


def _make(hub, method, args, **opts):
    from koji_containerbuild.sandbox.kojihub import api_maketask

    return hub.dispatch_raw(
        lambda: api_maketask.make_task(method, list(args), **opts),
        (),
        {},
        hub._session_for(hub.db.one("SELECT * FROM users WHERE name = 'alice'")),
    )


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


def _open_task(hub) -> int:
    """A task the builder host has OPEN: the only kind it may upload into."""
    task_id = _make(hub, "thing", ["demo"], channel="container")
    hub.session("builder").host.openTask(task_id)
    return task_id


def write_file(tmp_path, name, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("fast", [True, False])
def test_upload_wrapper_and_download(sandbox_hub, tmp_path, fast):
    data = os.urandom(3 * 1024 * 1024 + 17)
    builder = sandbox_hub.session("builder", opts={"use_fast_upload": fast})
    task_id = _open_task(sandbox_hub)
    builder.uploadWrapper(
        write_file(tmp_path, "image.tar", data), koji.pathinfo.taskrelpath(task_id)
    )
    assert builder.listTaskOutput(task_id) == ["image.tar"]
    assert builder.downloadTaskOutput(task_id, "image.tar") == data
    assert builder.downloadTaskOutput(task_id, "image.tar", offset=10, size=5) == data[10:15]


@pytest.mark.parametrize("fast", [True, False])
def test_incremental_upload_appends(sandbox_hub, fast):
    builder = sandbox_hub.session("builder", opts={"use_fast_upload": fast})
    task_id = _open_task(sandbox_hub)
    path = koji.pathinfo.taskrelpath(task_id)
    stream = io.BytesIO(b"first line\n")
    koji.daemon.incremental_upload(builder, "build.log", stream, path)
    stream.seek(0, 2)
    stream.write(b"second line\n")
    stream.seek(len(b"first line\n"))
    koji.daemon.incremental_upload(builder, "build.log", stream, path)
    expected = b"first line\nsecond line\n"
    assert builder.downloadTaskOutput(task_id, "build.log") == expected
    stat = builder.listTaskOutput(task_id, stat=True)
    assert stat["build.log"]["st_size"] == str(len(expected))


@pytest.mark.parametrize("path", ["/etc", "../outside", "tasks/../../x", ""])
def test_uploads_stay_in_the_work_dir(sandbox_hub, path):
    builder = sandbox_hub.session("builder")
    with pytest.raises(koji.GenericError, match="Invalid upload directory"):
        builder.rawUpload(b"x", 0, path, "f.txt")


@pytest.mark.parametrize("name", ["../f.txt", ".hidden", "a/b"])
def test_upload_names_are_plain(sandbox_hub, name):
    with pytest.raises(koji.GenericError, match="Invalid upload filename"):
        sandbox_hub.session("builder").rawUpload(b"x", 0, "cg/up", name)


def test_upload_dir_belongs_to_first_uploader(sandbox_hub):
    sandbox_hub.session("builder").rawUpload(b"x", 0, "cg/up", "a.txt")
    with pytest.raises(koji.GenericError, match="not owner"):
        sandbox_hub.session("alice").rawUpload(b"x", 0, "cg/up", "b.txt")


def test_upload_needs_login(sandbox_hub):
    with pytest.raises(koji.ActionNotAllowed):
        sandbox_hub.session().rawUpload(b"x", 0, "cg/up", "a.txt")


def test_download_refuses_escapes(sandbox_hub):
    with pytest.raises(koji.GenericError, match="Invalid file name"):
        sandbox_hub.session().downloadTaskOutput(1, "../../../db.sqlite")


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


# -- upload contract: kojihub get_upload_path, Task.assertHost, uploadFile, handle_upload


def _upload(session, fast: bool, path: str, name: str, data: bytes, offset=0):
    """One chunk through rawUpload (handle_upload) or uploadFile, as koji's clients send it."""
    if fast:
        return session.rawUpload(data, offset, path, name, overwrite=True)
    digest = ("sha256", hashlib.sha256(data).hexdigest())
    return session.uploadFile(path, name, len(data), digest, offset, koji.util.base64encode(data))


@pytest.mark.parametrize("fast", [True, False], ids=["rawUpload", "uploadFile"])
def test_get_upload_path_refuses_a_task_after_cancel_like_assert_host(sandbox_hub, fast):
    task_id = _open_task(sandbox_hub)
    builder = sandbox_hub.session("builder")
    path = koji.pathinfo.taskrelpath(task_id)
    _upload(builder, fast, path, "build.log", b"one\n")
    sandbox_hub.session("alice").cancelTask(task_id)
    host_id = builder.host.getID()
    with pytest.raises(koji.ActionNotAllowed) as refused:
        _upload(builder, fast, path, "build.log", b"two\n", offset=4)
    assert str(refused.value) == f"host {host_id} does not own task {task_id}"
    assert builder.downloadTaskOutput(task_id, "build.log") == b"one\n"


@pytest.mark.parametrize("fast", [True, False], ids=["rawUpload", "uploadFile"])
def test_get_upload_path_refuses_a_closed_task_like_assert_host(sandbox_hub, fast):
    task_id = _open_task(sandbox_hub)
    builder = sandbox_hub.session("builder")
    builder.host.closeTask(task_id, koji.xmlrpcplus.dumps((1,), methodresponse=1))
    with pytest.raises(koji.ActionNotAllowed, match="does not own task"):
        _upload(builder, fast, koji.pathinfo.taskrelpath(task_id), "late.log", b"x")


def test_get_upload_path_refuses_a_task_the_host_has_not_opened(sandbox_hub):
    task_id = _make(sandbox_hub, "thing", ["demo"], channel="container")
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {task_id}$"):
        sandbox_hub.session("builder").rawUpload(
            b"x", 0, koji.pathinfo.taskrelpath(task_id), "a.log"
        )


def test_get_upload_path_refuses_a_task_opened_by_another_host(sandbox_hub):
    sandbox_hub.add_user("builder2", "builder2", host=True)
    task_id = _open_task(sandbox_hub)
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {task_id}$"):
        sandbox_hub.session("builder2").rawUpload(
            b"x", 0, koji.pathinfo.taskrelpath(task_id), "a.log"
        )


def test_get_upload_path_lets_no_user_pre_create_a_future_task_dir(sandbox_hub):
    future = _make(sandbox_hub, "thing", ["demo"], channel="container") + 1
    path = koji.pathinfo.taskrelpath(future)
    alice = sandbox_hub.session("alice")
    with pytest.raises(koji.AuthError, match=r"^User \d+ is not a host$"):
        alice.rawUpload(b"mine", 0, path, "build.log")
    assert not os.path.exists(os.path.join(sandbox_hub.workdir, path))


def test_get_upload_path_refuses_a_task_that_does_not_exist(sandbox_hub):
    with pytest.raises(koji.GenericError, match=r"^No such task: 4242$"):
        sandbox_hub.session("builder").rawUpload(b"x", 0, "tasks/4242/4242", "a.log")


@pytest.mark.parametrize("path", ["tasks", "tasks/1", "tasks/1/one"])
def test_get_upload_path_needs_a_task_id_under_tasks(sandbox_hub, path):
    with pytest.raises(koji.GenericError, match="Invalid task upload directory"):
        sandbox_hub.session("builder").rawUpload(b"x", 0, path, "a.log")


def test_get_upload_path_lets_a_user_upload_into_a_work_dir_of_their_own(sandbox_hub):
    alice = sandbox_hub.session("alice")
    alice.rawUpload(b"srpm", 0, "cli-build/alice-1", "x.src.rpm")
    assert alice.checkUpload("cli-build/alice-1", "x.src.rpm")["size"] == 4


@pytest.mark.parametrize("fast", [True, False], ids=["rawUpload", "uploadFile"])
@pytest.mark.parametrize("offset", ["abc", -5, "-5", "1e3"])
def test_upload_offset_that_is_not_minus_one_or_more_is_a_parameter_error(
    sandbox_hub, fast, offset
):
    # kojihub answers these with a bare ValueError (int('abc')) or OSError (lseek -5)
    with pytest.raises(koji.ParameterError, match="Invalid upload offset"):
        _upload(sandbox_hub.session("alice"), fast, "cli-build/a", "x.log", b"x", offset)


@pytest.mark.parametrize("fast", [True, False], ids=["rawUpload", "uploadFile"])
def test_upload_offset_past_the_end_of_the_file_is_refused(sandbox_hub, fast):
    # kojihub seeks there and leaves a sparse hole: 10 TB here
    alice = sandbox_hub.session("alice")
    _upload(alice, fast, "cli-build/a", "x.log", b"start\n")
    with pytest.raises(koji.GenericError, match="would leave a hole"):
        _upload(alice, fast, "cli-build/a", "x.log", b"x", offset=10 * 1024**4)
    assert alice.checkUpload("cli-build/a", "x.log")["size"] == 6


def test_raw_upload_without_overwrite_must_end_at_the_end_of_the_file(sandbox_hub):
    # handle_upload truncates at the offset only with overwrite (a re-run's logs)
    alice = sandbox_hub.session("alice")
    alice.rawUpload(b"0123456789", 0, "cli-build/a", "x.bin")
    with pytest.raises(koji.GenericError, match="Incorrect upload length"):
        alice.rawUpload(b"ab", 2, "cli-build/a", "x.bin")


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
