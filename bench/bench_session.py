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
        self._arrivals: dict[str, list[tuple[float, int]]] = {}
        self.session = _Proxy(self)

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
        result = self._hub._inner.rawUpload(chunk, offset, path, name, **kwargs)
        self._forget()
        self._hub.note(name, offset, len(chunk))
        return result

    def uploadFile(self, path, name, size, checksum, offset, data):
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
        return getattr(self._hub._inner, name)


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


def make_session(topdir: str) -> MeasuredHub:
    """The sandbox hub's in-process session (the hub stand-in of record), as kojid's host."""
    from koji_containerbuild.sandbox.hub import SandboxHub

    hub = SandboxHub(topdir)
    hub.add_user("builder", "builder", host=True)
    session = hub.session("builder")
    mode = "rawUpload" if session.opts.get("use_fast_upload") else "uploadFile"
    return MeasuredHub(
        session,
        os.path.join(topdir, "work"),
        f"sandbox SandboxHub in-process session as kojid's host user ({mode})",
    )
