"""The log tests' harness: a hub that records uploads, a work dir, and TaskLogs on both.

Shared by tests/test_logs*.py (registered in tests/conftest.py's pytest_plugins).
"""

from __future__ import annotations

import os

import koji
import pytest

from koji_containerbuild.logs.stream import TaskLogs
from tests.conftest import open_task


class Hub:
    """The sandbox hub's in-process session (the hub stand-in of record), as kojid's host.

    Uploads land under the sandbox's work dir and every call is recorded in
    ``session.calls``. The only addition is fault injection: ``fail_next``
    upload calls raise, or all of them with ``refuse_all``.
    """

    def __init__(self, sandbox_hub, fast_upload: bool):
        self.upload_path = koji.pathinfo.taskrelpath(open_task(sandbox_hub))
        self.session = sandbox_hub.session("builder", opts={"use_fast_upload": fast_upload})
        self.root = sandbox_hub.workdir
        self.opts = self.session.opts
        self.fail_next = 0
        self.refuse_all = False

    def _fault(self) -> None:
        if self.refuse_all:
            raise OSError("hub unreachable")
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("connection reset")

    def rawUpload(self, *args, **kwargs):
        self._fault()
        return self.session.rawUpload(*args, **kwargs)

    def uploadFile(self, *args, **kwargs):
        self._fault()
        return self.session.uploadFile(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.session, name)

    def uploads(self) -> list[tuple[str, int, int]]:
        """(name, offset, size) of every upload call the hub answered, in order."""
        found = []
        for method, args, _ in self.session.calls:
            if method == "rawUpload":
                chunk, offset, _path, name = args[:4]
                found.append((name, offset, len(chunk)))
            elif method == "uploadFile":
                _path, name, size, _checksum, offset, _data = args[:6]
                found.append((name, offset, size))
        return found

    def uploaded(self, name: str) -> bytes:
        with open(os.path.join(self.root, self.upload_path, name), "rb") as handle:
            return handle.read()

    def offsets(self, name: str) -> list[tuple[int, int]]:
        return [(offset, size) for n, offset, size in self.uploads() if n == name]


@pytest.fixture(params=[True, False], ids=["rawUpload", "uploadFile"])
def hub(request, sandbox_hub):
    return Hub(sandbox_hub, fast_upload=request.param)


@pytest.fixture
def work_dir(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


def make_logs(hub, tmp_path, work_dir, **kwargs) -> TaskLogs:
    kwargs.setdefault("flush_interval", 0.01)
    kwargs.setdefault("retry_delay", 0.001)
    return TaskLogs(hub, hub.upload_path, str(tmp_path / "local"), str(work_dir), **kwargs)
