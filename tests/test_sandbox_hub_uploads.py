"""The hub stand-in's uploads and downloads (sandbox/kojihub/uploads.py), called in-process.

Uploads stay in the work dir under plain names, append at their offsets, and
follow kojihub's get_upload_path, Task.assertHost, uploadFile and handle_upload.
"""

from __future__ import annotations

import hashlib
import io
import os

import koji
import koji.daemon
import koji.util
import koji.xmlrpcplus
import pytest

from tests.sandbox_hub_harness import _make


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
