"""Hub sessions for the log benchmark, measured.

The throughput limit is measured against :class:`CountingSession`, a hub on
another machine as the builder sees it (it checks offsets and answers the
digest, stores nothing); the sandbox hub's in-process session gives the
same figure with a real hub's work on this CPU, for information.
"""

from __future__ import annotations

import os
import time

from koji.util import adler32_constructor


class MeasuredHub:
    """Counts upload calls and bytes, and when each chunk reached the hub."""

    def __init__(self, session, work_dir: str, description: str):
        self._inner = session
        self.work_dir = work_dir
        self.description = description
        self.track_times = False
        self._calls = 0
        self._bytes = 0
        #: every hub call made through ``session`` (uploads and all others)
        self.all_calls = 0
        self._arrivals: dict[str, list[tuple[float, int]]] = {}
        self._tasks = 0
        self.session = _Proxy(self)

    def open_task(self) -> str:
        """Upload path of a new task (this hub checks no task ownership)."""
        self._tasks += 1
        return f"tasks/{self._tasks}/{self._tasks}"

    def close(self) -> None:
        pass

    def note(self, name: str, offset: int, size: int) -> None:
        self._calls += 1
        self._bytes += size
        if self.track_times:
            self._arrivals.setdefault(name, []).append((time.monotonic(), offset + size))

    def uploaded_bytes(self) -> int:
        return self._bytes

    def upload_calls(self) -> int:
        return self._calls

    def arrivals(self, name: str) -> list[tuple[float, int]]:
        return list(self._arrivals.get(name, []))

    def reset_counters(self) -> None:
        self._calls = 0
        self._bytes = 0
        self._arrivals = {}


class _Proxy:
    """Passes calls to the real session; notes uploads once the hub accepted them."""

    def __init__(self, hub: MeasuredHub):
        self._hub = hub
        self.opts = hub._inner.opts

    def rawUpload(self, chunk, offset, path, name, **kwargs):
        self._hub.all_calls += 1
        result = self._hub._inner.rawUpload(chunk, offset, path, name, **kwargs)
        self._forget()
        self._hub.note(name, offset, len(chunk))
        return result

    def uploadFile(self, path, name, size, checksum, offset, data):
        self._hub.all_calls += 1
        result = self._hub._inner.uploadFile(path, name, size, checksum, offset, data)
        self._forget()
        self._hub.note(name, offset, size)
        return result

    def _forget(self) -> None:
        # the sandbox session records every call with its arguments (chunks included)
        calls = getattr(self._hub._inner, "calls", None)
        if isinstance(calls, list):
            del calls[:]

    def __getattr__(self, name):
        value = getattr(self._hub._inner, name)
        if not callable(value) or name.startswith("_"):
            return value

        def counted(*args, **kwargs):
            self._hub.all_calls += 1
            return value(*args, **kwargs)

        return counted


class CountingSession:
    """A hub on another machine, as the builder sees it: rawUpload checked, nothing stored.

    Offsets must be contiguous per file (each byte once); the answer carries
    the adler32 digest the builder verifies, like kojihub's.
    """

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.opts = {"use_fast_upload": True}
        self.sizes: dict[tuple[str, str], int] = {}

    def rawUpload(self, chunk, offset, path, name, overwrite=False, **kwargs):
        key = (path, name)
        if offset != self.sizes.get(key, 0):
            raise AssertionError(f"{name}: upload at {offset}, hub has {self.sizes.get(key, 0)}")
        self.sizes[key] = offset + len(chunk)
        return {"size": len(chunk), "hexdigest": adler32_constructor(chunk).hexdigest()}


def make_counting_session(topdir: str) -> MeasuredHub:
    work_dir = os.path.join(topdir, "work")
    return MeasuredHub(
        CountingSession(work_dir),
        work_dir,
        "counting hub (rawUpload: checks each file's offsets are contiguous and answers "
        "the adler32 digest the builder verifies; stores nothing)",
    )


class InProcessHub(MeasuredHub):
    """The sandbox hub's in-process session (the hub stand-in of record), as kojid's host."""

    def __init__(self, topdir: str):
        from koji_containerbuild.sandbox.kojihub.hub import SandboxHub

        self.hub = SandboxHub(topdir)
        self.hub.add_user("builder", "builder", host=True)
        self.hub.add_user("admin", "admin", perms=["admin"])
        self.hub.add_channel("container")
        self.hub.add_host_to_channel("builder", "container")
        session = self.hub.session("builder")
        mode = "rawUpload" if session.opts.get("use_fast_upload") else "uploadFile"
        super().__init__(
            session,
            os.path.join(topdir, "work"),
            f"sandbox SandboxHub in-process session as kojid's host user ({mode})",
        )

    def open_task(self) -> str:
        """An OPEN task owned by the builder host; returns its upload path."""
        import koji

        task_id = self.hub.session("admin").makeTask("buildContainer", [], channel="container")
        self._inner.host.openTask(task_id)
        return koji.pathinfo.taskrelpath(task_id)


def make_session(topdir: str) -> MeasuredHub:
    return InProcessHub(topdir)


#: Run by make_http_session in a process of its own: the sandbox hub on loopback.
_HUB_PROCESS = """
import sys, time
from koji_containerbuild.sandbox.kojihub.hub import SandboxHub
from koji_containerbuild.sandbox.kojihub.server import serve
hub = SandboxHub(sys.argv[1])
hub.add_user("builder", "builder", host=True)
hub.add_user("admin", "admin", perms=["admin"])
hub.add_channel("container")
hub.add_host_to_channel("builder", "container")
handle = serve(hub)
print(handle.url, flush=True)
sys.stdin.read()
"""


class HttpHub(MeasuredHub):
    """The sandbox hub in its own process, reached over HTTP as kojid reaches a hub."""

    def __init__(self, topdir: str):
        import subprocess
        import sys

        import koji

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HUB_PROCESS, topdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        url = self.process.stdout.readline().strip()
        builder = koji.ClientSession(
            url, {"user": "builder", "password": "builder", "use_fast_upload": True}
        )
        builder.login()
        self._admin = koji.ClientSession(url, {"user": "admin", "password": "admin"})
        self._admin.login()
        super().__init__(
            builder,
            os.path.join(topdir, "work"),
            "sandbox hub in its own process over HTTP on loopback "
            "(koji.ClientSession as kojid's host, rawUpload)",
        )

    def open_task(self) -> str:
        """An OPEN task owned by the builder host; returns its upload path."""
        import koji

        task_id = self._admin.makeTask("buildContainer", [], channel="container")
        self._inner.host.openTask(task_id)
        return koji.pathinfo.taskrelpath(task_id)

    def close(self) -> None:
        self._inner.logout()
        self._admin.logout()
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait()


def make_http_session(topdir: str) -> HttpHub:
    return HttpHub(topdir)
