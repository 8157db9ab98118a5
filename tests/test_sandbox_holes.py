"""The sandbox is at least as strict as kojihub where a hostile user could poke it.

cancelTaskChildren's rights, the 32-bit task priority, kojihub's
MaxRequestLength, the exact allowed_scms of the sandbox git daemon, and the
demo users' random passwords.
"""

from __future__ import annotations

import os
import stat

import koji
import koji.daemon
import pytest
import requests

from koji_containerbuild.sandbox.env import layout
from koji_containerbuild.sandbox.kojihub import api_maketask
from koji_containerbuild.sandbox.kojihub.server import MAX_RPC_REQUEST

FREE, OPEN, CANCELED = (koji.TASK_STATES[s] for s in ("FREE", "OPEN", "CANCELED"))


def _make_as(hub, user, method, args, **opts):
    session = hub._session_for(hub.db.one("SELECT * FROM users WHERE name = ?", (user,)))
    return hub.dispatch_raw(
        lambda: api_maketask.make_task(method, list(args), **opts), (), {}, session
    )


@pytest.fixture
def parent_and_child(sandbox_hub):
    """alice's task, opened by the builder, with one child task."""
    parent = _make_as(sandbox_hub, "alice", "thing", ["demo"], channel="container")
    sandbox_hub.session("builder").host.openTask(parent)
    child = _make_as(sandbox_hub, "alice", "part", ["demo"], parent=parent)
    return parent, child


def _state(hub, task_id):
    return hub.session().getTaskInfo(task_id)["state"]


# -- cancelTaskChildren ---------------------------------------------------------


def test_cancel_task_children_needs_login(sandbox_hub, parent_and_child):
    parent, child = parent_and_child
    with pytest.raises(koji.ActionNotAllowed):
        sandbox_hub.session().cancelTaskChildren(parent)
    assert _state(sandbox_hub, child) == FREE


def test_cancel_task_children_of_someone_elses_task_is_refused(sandbox_hub, parent_and_child):
    sandbox_hub.add_user("mallory", "m")
    parent, child = parent_and_child
    with pytest.raises(koji.ActionNotAllowed, match="not owner"):
        sandbox_hub.session("mallory").cancelTaskChildren(parent)
    assert _state(sandbox_hub, child) == FREE


def test_cancel_task_children_by_the_owner_cancels_only_the_children(
    sandbox_hub, parent_and_child
):
    parent, child = parent_and_child
    sandbox_hub.session("alice").cancelTaskChildren(parent)
    assert (_state(sandbox_hub, parent), _state(sandbox_hub, child)) == (OPEN, CANCELED)


# -- what kojihub's database and request reader refuse ------------------------


def test_task_priority_koji_cannot_store_creates_no_task(sandbox_hub):
    with pytest.raises(koji.GenericError, match="integer out of range"):
        _make_as(sandbox_hub, "alice", "thing", ["demo"], priority=2**31)
    assert sandbox_hub.session().listTasks() == []


def test_rpc_call_longer_than_kojihub_accepts_is_refused_in_process(sandbox_hub):
    with pytest.raises(koji.GenericError, match="Request too long"):
        sandbox_hub.session("alice").getTag("x" * MAX_RPC_REQUEST)


def test_rpc_call_longer_than_kojihub_accepts_is_refused_over_http(hub_server):
    body = (
        "<?xml version='1.0'?><methodCall><methodName>getTag</methodName><params>"
        f"<param><value><string>{'x' * MAX_RPC_REQUEST}</string></value></param>"
        "</params></methodCall>"
    )
    response = requests.post(hub_server.url, data=body.encode(), timeout=60)
    with pytest.raises(koji.GenericError, match="Request too long"):
        try:
            koji.xmlrpcplus.loads(response.content)
        except koji.Fault as fault:
            raise koji.convertFault(fault) from None


# -- allowed_scms of the sandbox git daemon -------------------------------------

ALLOWED = layout.exact_allowed_scms("127.0.0.1", 9418)


@pytest.mark.parametrize(
    "url",
    [
        "git://127.0.0.10:9418/repo#abc",
        "git://127.0.0.1.evil.example:9418/repo#abc",
        "git://127.0.0.1.9418/repo#abc",
        "git://127.0.0.1:94180/repo#abc",
        "git://127.0.0.1:9419/repo#abc",
        "git://127.0.0.1/repo#abc",
        "git://evil.example/127.0.0.1:9418/repo#abc",
    ],
)
def test_sandbox_allowed_scms_refuse_look_alike_hosts(url):
    with pytest.raises(koji.BuildError):
        koji.daemon.SCM(url).assert_allowed(ALLOWED)


def test_sandbox_allowed_scms_admit_the_git_daemon_itself():
    scm = koji.daemon.SCM("git://127.0.0.1:9418/containers/app.git#abc")
    scm.assert_allowed(ALLOWED)
    assert scm.use_common is False


# -- passwords of the demo users ------------------------------------------------


def test_demo_passwords_are_random_and_readable_by_the_owner_only(tmp_path):
    paths = layout.Paths(str(tmp_path))
    passwords = layout.ensure_passwords(paths)
    assert set(passwords) == {layout.USER, layout.ADMIN, layout.HOST}
    assert all(password != user and len(password) >= 24 for user, password in passwords.items())
    assert len(set(passwords.values())) == 3
    assert stat.S_IMODE(os.stat(paths.passwords).st_mode) == 0o700
    for user in passwords:
        assert stat.S_IMODE(os.stat(layout.password_path(paths, user)).st_mode) == 0o600


def test_demo_passwords_are_kept_across_starts(tmp_path):
    paths = layout.Paths(str(tmp_path))
    assert layout.ensure_passwords(paths) == layout.ensure_passwords(paths)


def test_demo_user_logs_in_with_the_generated_password_not_the_name(tmp_path):
    from koji_containerbuild.sandbox.kojihub.hub import SandboxHub

    paths = layout.Paths(str(tmp_path))
    hub = SandboxHub(str(tmp_path / "koji"))
    passwords = layout.ensure_passwords(paths)
    layout.setup_demo(hub, "x86_64", passwords)
    with pytest.raises(koji.AuthError):
        hub.session().callMethod("login", layout.USER, layout.USER)
    assert hub.session().callMethod("login", layout.USER, passwords[layout.USER])["session-id"]
    hub.db.close()


def test_printed_koji_command_reads_the_password_from_its_file(tmp_path):
    paths = layout.Paths(str(tmp_path))
    passwords = layout.ensure_passwords(paths)
    text = layout.koji_command_text(paths.state)
    assert passwords[layout.USER] not in text
    assert f'--password "$(cat {layout.password_path(paths, layout.USER)})"' in text
