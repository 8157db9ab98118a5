"""The sandbox hub over HTTP, through the real koji.ClientSession and koji CLI."""

from __future__ import annotations

import io
import os
import subprocess

import koji
import koji.daemon
import koji.xmlrpcplus
import pytest
import requests

from koji_containerbuild.sandbox.env.layout import koji_executable


def client(handle, user=None, **opts):
    session = koji.ClientSession(handle.url, {"max_retries": 0, **opts})
    if user is not None:
        session.opts.update({"user": user, "password": user})
        session.login()
    return session


def make_task(handle, method="buildContainer", args=("git://example.com/x#1", "demo", {})):
    admin = client(handle, "admin")
    return admin.makeTask(method, list(args), channel="container")


def open_task(handle) -> int:
    """A task the builder host has OPEN, so it may upload into the task's output."""
    task_id = make_task(handle)
    client(handle, "builder").host.openTask(task_id)
    return task_id


def koji_cli(handle, tmp_path, *args, user="alice"):
    conf = tmp_path / "koji.conf"
    conf.write_text(
        f"[sandbox]\nserver = {handle.url}\ntopurl = {handle.topurl}\nauthtype = password\n"
    )
    cmd = [
        koji_executable(),
        "-c",
        str(conf),
        "-p",
        "sandbox",
        "--user",
        user,
        "--password",
        user,
        *args,
    ]
    env = dict(os.environ, HOME=str(tmp_path))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)


def test_password_login_and_logged_in_user(hub_server):
    session = client(hub_server, "alice")
    assert session.sinfo["header-auth"] is True
    assert session.getLoggedInUser()["name"] == "alice"


def test_bad_password_is_an_auth_error(hub_server):
    session = koji.ClientSession(hub_server.url, {"user": "alice", "password": "wrong"})
    with pytest.raises(koji.AuthError):
        session.login()


def test_forged_session_key_is_refused(hub_server):
    session = client(hub_server, "alice")
    session.sinfo = dict(session.sinfo, **{"session-key": "forged"})
    with pytest.raises(koji.AuthError):
        session.getLoggedInUser()


def test_logout_expires_the_session(hub_server):
    session = client(hub_server, "alice")
    sinfo = dict(session.sinfo)
    session.logout()
    stale = client(hub_server)
    stale.setSession(sinfo)
    with pytest.raises(koji.AuthError):
        stale.getLoggedInUser()


def test_anonymous_calls_and_version(hub_server):
    session = client(hub_server)
    assert session.getAPIVersion() == koji.API_VERSION
    assert session.hub_version_str == koji.__version__
    assert session.getBuildTarget("demo")["build_tag_name"] == "demo-build"


def test_faults_keep_their_class(hub_server):
    session = client(hub_server, "alice")
    with pytest.raises(koji.ParameterError):
        session.getTag()
    with pytest.raises(koji.ActionNotAllowed):
        session.grantPermission("alice", "admin")


def test_multicall_through_client(hub_server):
    session = client(hub_server, "alice")
    with session.multicall() as m:
        tag = m.getTag("demo-build")
        missing = m.getTag("nope", strict=True)
    assert tag.result["arches"] == "x86_64"
    with pytest.raises(koji.GenericError, match="No such tagInfo"):
        _ = missing.result


@pytest.mark.parametrize("fast", [True, False])
def test_upload_wrapper_and_download(hub_server, tmp_path, fast):
    data = os.urandom(2 * 1024 * 1024 + 5)
    local = tmp_path / "image.tar"
    local.write_bytes(data)
    task_id = open_task(hub_server)
    builder = client(hub_server, "builder", use_fast_upload=fast)
    builder.uploadWrapper(str(local), koji.pathinfo.taskrelpath(task_id))
    assert builder.downloadTaskOutput(task_id, "image.tar") == data


@pytest.mark.parametrize("fast", [True, False])
def test_incremental_upload_of_a_growing_log(hub_server, fast):
    task_id = open_task(hub_server)
    builder = client(hub_server, "builder", use_fast_upload=fast)
    path = koji.pathinfo.taskrelpath(task_id)
    log = io.BytesIO()
    for line in (b"one\n", b"two\n"):
        position = log.tell()
        log.write(line)
        log.seek(position)
        koji.daemon.incremental_upload(builder, "build.log", log, path)
    assert builder.downloadTaskOutput(task_id, "build.log") == b"one\ntwo\n"


def test_raw_upload_outside_work_dir_is_refused(hub_server):
    builder = client(hub_server, "builder")
    with pytest.raises(koji.GenericError, match="Invalid upload directory"):
        builder.rawUpload(b"x", 0, "../../etc", "passwd")


def test_raw_upload_over_http_with_offset_abc_is_a_parameter_error(hub_server):
    # the offset arrives in the query string; kojihub's int() would answer a bare ValueError
    builder = client(hub_server, "builder")
    with pytest.raises(koji.ParameterError, match="Invalid upload offset: 'abc'"):
        builder.rawUpload(b"x", "abc", "cg/up", "a.log")


def test_kojifiles_serves_task_output_only_inside_topdir(hub_server):
    task_id = open_task(hub_server)
    builder = client(hub_server, "builder")
    builder.rawUpload(b"hello", 0, koji.pathinfo.taskrelpath(task_id), "a.log")
    url = f"{hub_server.topurl}/work/{koji.pathinfo.taskrelpath(task_id)}/a.log"
    assert requests.get(url, timeout=10).content == b"hello"
    assert requests.get(f"{hub_server.topurl}/../../etc/passwd", timeout=10).status_code == 404
    assert requests.get(f"{hub_server.topurl}/db.sqlite", timeout=10).status_code == 403


def finish_task(handle, task_id, result=None, fault=None):
    builder = client(handle, "builder")
    builder.host.openTask(task_id)
    path = koji.pathinfo.taskrelpath(task_id)
    builder.rawUpload(b"building\ndone\n", 0, path, "build.log")
    if fault is not None:
        builder.host.failTask(task_id, koji.xmlrpcplus.dumps(fault, methodresponse=1))
    else:
        builder.host.closeTask(task_id, koji.xmlrpcplus.dumps((result,), methodresponse=1))


def test_cli_hello_and_list_targets(hub_server, tmp_path):
    hello = koji_cli(hub_server, tmp_path, "hello")
    targets = koji_cli(hub_server, tmp_path, "list-targets", "--quiet")
    assert hello.returncode == 0 and "alice" in hello.stdout
    assert targets.stdout.split() == ["demo", "demo-build", "demo-candidate"]


def test_cli_watch_task_and_logs_of_closed_task(hub_server, tmp_path):
    task_id = make_task(hub_server)
    finish_task(hub_server, task_id, result={"repositories": ["r:1"]})
    watch = koji_cli(hub_server, tmp_path, "watch-task", str(task_id))
    logs = koji_cli(hub_server, tmp_path, "watch-logs", str(task_id))
    assert watch.returncode == 0, watch.stderr
    assert "completed successfully" in watch.stdout
    assert "building\ndone" in logs.stdout


def test_cli_watch_task_of_failed_task(hub_server, tmp_path):
    task_id = make_task(hub_server)
    finish_task(hub_server, task_id, fault=koji.xmlrpcplus.Fault(1005, "RUN failed"))
    watch = koji_cli(hub_server, tmp_path, "watch-task", str(task_id))
    assert watch.returncode == 1
    assert "RUN failed" in watch.stdout + watch.stderr


def test_cli_download_task_logs(hub_server, tmp_path):
    task_id = make_task(hub_server)
    finish_task(hub_server, task_id, result={})
    done = koji_cli(hub_server, tmp_path, "download-task", "--logs", str(task_id))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "build.noarch.log").read_bytes() == b"building\ndone\n"


def test_cli_cancel_by_owner_only(hub_server, tmp_path):
    task_id = make_task(hub_server)
    refused = koji_cli(hub_server, tmp_path, "cancel", str(task_id))
    allowed = koji_cli(hub_server, tmp_path, "cancel", str(task_id), user="admin")
    assert refused.returncode != 0 and "not owner" in refused.stderr
    assert allowed.returncode == 0
    assert client(hub_server).getTaskInfo(task_id)["state"] == koji.TASK_STATES["CANCELED"]


def test_cli_taskinfo(hub_server, tmp_path):
    task_id = make_task(hub_server)
    info = koji_cli(hub_server, tmp_path, "taskinfo", "-v", str(task_id))
    assert info.returncode == 0, info.stderr
    assert "State: free" in info.stdout and "Owner: admin" in info.stdout
