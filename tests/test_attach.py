"""The re-attach record: written into the task output, read back by a re-run."""

import base64
import json

import koji
import pytest

from koji_containerbuild.builder.attach import RECORD_NAME, AttachRecord, read_record, write_record
from tests.conftest import open_task


@pytest.fixture
def task_id(sandbox_hub):
    return open_task(sandbox_hub)


@pytest.fixture
def builder(sandbox_hub):
    return sandbox_hub.session("builder")


def upload(session, tmp_path, task_id, data: bytes) -> None:
    """Put a file with these bytes where the record lives, as a broken run might."""
    local = tmp_path / "raw"
    local.write_bytes(data)
    session.uploadWrapper(str(local), koji.pathinfo.taskrelpath(task_id), RECORD_NAME)


def test_record_round_trips_through_task_output(builder, task_id, tmp_path):
    record = AttachRecord("osbs", "binary-container-build-abc", {"build_id": 5, "token": "t"})
    write_record(builder, koji.pathinfo.taskrelpath(task_id), str(tmp_path), record)
    assert read_record(builder, task_id) == record


def test_record_holds_backend_and_handle_as_json(builder, task_id, tmp_path):
    write_record(
        builder, koji.pathinfo.taskrelpath(task_id), str(tmp_path), AttachRecord("local", "h1")
    )
    stored = builder.downloadTaskOutput(task_id, RECORD_NAME)
    assert json.loads(stored) == {"backend": "local", "handle": "h1"}


def test_a_rerun_overwrites_the_record(builder, task_id, tmp_path):
    path = koji.pathinfo.taskrelpath(task_id)
    write_record(builder, path, str(tmp_path), AttachRecord("osbs", "first"))
    write_record(builder, path, str(tmp_path), AttachRecord("osbs", "second"))
    assert read_record(builder, task_id).handle == "second"


def test_missing_record_reads_as_none(builder, task_id):
    assert read_record(builder, task_id) is None


def test_garbage_record_reads_as_none(builder, task_id, tmp_path):
    upload(builder, tmp_path, task_id, b"\xff not json")
    assert read_record(builder, task_id) is None


def test_record_without_handle_reads_as_none(builder, task_id, tmp_path):
    upload(builder, tmp_path, task_id, b'{"backend": "osbs"}')
    assert read_record(builder, task_id) is None


def test_base64_answer_of_a_raw_hub_is_decoded():
    class RawAnswer:
        """A session that passes the hub's raw answer on (callMethod-style)."""

        def downloadTaskOutput(self, task_id, name, offset=0, size=-1):
            return base64.b64encode(b'{"backend": "osbs", "handle": "x"}').decode()

    assert read_record(RawAnswer(), 42) == AttachRecord("osbs", "x")
