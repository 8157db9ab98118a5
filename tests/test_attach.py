"""The re-attach record: written into the task output, read back by a re-run."""

import base64
import json

import koji

from koji_containerbuild.attach import RECORD_NAME, AttachRecord, read_record, write_record


class OutputSession:
    """Task output as the hub keeps it: uploads by path, downloads by task id."""

    def __init__(self, task_id=42):
        self.task_id = task_id
        self.files = {}

    def uploadWrapper(self, localfile, path, name=None, overwrite=True, **_):
        with open(localfile, "rb") as handle:
            self.files[(path, name)] = handle.read()

    def downloadTaskOutput(self, task_id, name, offset=0, size=-1):
        for (path, fname), data in self.files.items():
            if path.endswith(f"/{task_id}") and fname == name:
                return data
        raise koji.GenericError(f"no file {name} output by task {task_id}")


def test_record_round_trips_through_task_output(tmp_path):
    session = OutputSession()
    record = AttachRecord("osbs", "binary-container-build-abc", {"build_id": 5, "token": "t"})
    write_record(session, "tasks/42/42", str(tmp_path), record)
    assert read_record(session, 42) == record


def test_record_holds_backend_and_handle_as_json(tmp_path):
    session = OutputSession()
    write_record(session, "tasks/42/42", str(tmp_path), AttachRecord("local", "h1"))
    assert json.loads(session.files[("tasks/42/42", RECORD_NAME)]) == {
        "backend": "local",
        "handle": "h1",
    }


def test_missing_record_reads_as_none():
    assert read_record(OutputSession(), 42) is None


def test_garbage_record_reads_as_none():
    session = OutputSession()
    session.files[("tasks/42/42", RECORD_NAME)] = b"\xff not json"
    assert read_record(session, 42) is None


def test_record_without_handle_reads_as_none():
    session = OutputSession()
    session.files[("tasks/42/42", RECORD_NAME)] = b'{"backend": "osbs"}'
    assert read_record(session, 42) is None


def test_base64_answer_of_a_raw_hub_is_decoded():
    class RawSession(OutputSession):
        def downloadTaskOutput(self, task_id, name, offset=0, size=-1):
            return base64.b64encode(b'{"backend": "osbs", "handle": "x"}').decode()

    assert read_record(RawSession(), 42) == AttachRecord("osbs", "x")
