"""The local backend's log reader: every record of the runner's build log, one line each."""

from __future__ import annotations

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local.backend import LocalBackend

HANDLE = "build-1"


class EndsWhileRead(LocalBackend):
    """A build whose runner writes its last records and ends between two reads of the log."""

    def __init__(self, state_dir: str, last_records: bytes) -> None:
        super().__init__({"state_dir": state_dir})
        self.last_records = last_records

    def _finished(self, handle: str) -> bool:
        if self.last_records:
            with open(self._path(handle, bh.LOG_FILE), "ab") as log:
                log.write(self.last_records)
            self.last_records = b""
        return True


def backend_with_log(tmp_path, first: bytes, last: bytes) -> EndsWhileRead:
    backend = EndsWhileRead(str(tmp_path), last)
    (tmp_path / HANDLE).mkdir()
    (tmp_path / HANDLE / bh.LOG_FILE).write_bytes(first)
    return backend


def test_records_written_as_the_build_ends_are_lines_of_their_own(tmp_path):
    backend = backend_with_log(tmp_path, b"x86_64\tone\n", b"x86_64\ttwo\n-\tthree\n")
    assert list(backend.logs(HANDLE)) == [("x86_64", "one"), ("x86_64", "two"), (None, "three")]


def test_a_last_record_without_newline_is_still_a_line(tmp_path):
    backend = backend_with_log(tmp_path, b"x86_64\tone\n", b"x86_64\ttwo")
    assert list(backend.logs(HANDLE)) == [("x86_64", "one"), ("x86_64", "two")]
