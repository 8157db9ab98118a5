"""The scripted "cluster" behind the osbs stand-in.

A test describes each build it expects the code to create with a
:class:`BuildScript` (log lines per pipeline task, final state, results,
faults) and afterwards inspects what was created, cancelled and removed.
The stand-in ``osbs.api.OSBS`` talks to the cluster installed with
:func:`install` (the ``fake_osbs`` fixture does that).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Union

_current: FakeOpenShift | None = None


def install(cluster: FakeOpenShift | None) -> None:
    global _current
    _current = cluster


def current() -> FakeOpenShift:
    if _current is None:
        raise RuntimeError("no FakeOpenShift installed; use the fake_osbs fixture")
    return _current


@dataclass
class Pause:
    """A log item that blocks the task's stream until ``event`` is set or the run is cancelled."""

    event: threading.Event = field(default_factory=threading.Event)


@dataclass
class Delay:
    """A log item that sleeps before the next line of the task."""

    seconds: float


LogItem = Union[str, bytes, Pause, Delay]


@dataclass
class BuildScript:
    """How one PipelineRun behaves.

    ``tasks`` maps pipeline task names to their log items; ``bytes`` items
    that are not UTF-8 make the stream raise UnicodeDecodeError as
    osbs-client does. ``state`` is the final Tekton reason (Succeeded,
    Completed, Failed); a cancel turns it into ``cancel_reason``.
    ``stream_breaks`` is consumed one entry per log-stream open: after that
    many lines the stream raises the exception, or just ends early when the
    exception is None (osbs-client swallows connection drops that way).
    """

    tasks: dict[str, list[LogItem]] = field(default_factory=dict)
    state: str = "Succeeded"
    cancel_reason: str = "PipelineRunCancelled"
    results: dict[str, Any] | None = None
    error_message: str = "Error in binary-container-build-x86-64: build failed;"
    stream_breaks: list[tuple[int, BaseException | None]] = field(default_factory=list)


class FakeRun:
    """Server-side state of one PipelineRun."""

    def __init__(self, name: str, kind: str, kwargs: dict, script: BuildScript):
        self.name = name
        self.kind = kind
        self.kwargs = kwargs
        self.script = script
        self.reason = "Running"
        self.removed = False
        self.cancelled = threading.Event()
        self.log_opens = 0

    @property
    def finished(self) -> bool:
        return self.reason != "Running"

    def finish(self) -> None:
        if not self.finished:
            self.reason = self.script.state

    def info(self) -> dict | None:
        if self.removed:
            return None
        status = (
            "Unknown"
            if not self.finished
            else ("True" if self.reason in ("Succeeded", "Completed") else "False")
        )
        return {
            "metadata": {"name": self.name},
            "status": {"conditions": [{"status": status, "reason": self.reason}]},
        }

    def pending_pauses(self) -> list[Pause]:
        return [
            item
            for items in self.script.tasks.values()
            for item in items
            if isinstance(item, Pause) and not item.event.is_set()
        ]


class FakeOpenShift:
    """Scripted OSBS/OpenShift: builds, faults and a record of every call."""

    def __init__(self) -> None:
        self.scripts: list[BuildScript] = []
        self.runs: dict[str, FakeRun] = {}
        self.created: list[tuple[str, dict]] = []
        self.cancelled: list[str] = []
        self.removed: list[str] = []
        self.calls: list[tuple[str, tuple]] = []
        self.configurations: list[Any] = []
        self.faults: dict[str, list[BaseException]] = {}
        self._counter = 0
        self.lock = threading.Lock()

    # -- scripting -------------------------------------------------------
    def script(self, script: BuildScript | None = None, **kwargs) -> BuildScript:
        """Queue the behaviour of the next created build."""
        script = script or BuildScript(**kwargs)
        self.scripts.append(script)
        return script

    def fail(self, operation: str, *errors: BaseException) -> None:
        """Make the next calls of ``operation`` (an OSBS method name) raise ``errors``."""
        self.faults.setdefault(operation, []).extend(errors)

    def add_run(self, name: str, script: BuildScript, kind: str = "binary") -> FakeRun:
        """A run that exists already (created before a simulated kojid restart)."""
        run = FakeRun(name, kind, {}, script)
        self.runs[name] = run
        return run

    # -- used by the osbs.api stand-in -----------------------------------
    def check_fault(self, operation: str, args: tuple) -> None:
        self.calls.append((operation, args))
        queue = self.faults.get(operation)
        if queue:
            raise queue.pop(0)

    def create(self, kind: str, kwargs: dict) -> FakeRun:
        with self.lock:
            self._counter += 1
            prefix = "source" if kind == "source" else kwargs.get("component") or "build"
            name = f"{prefix}-{self._counter:04d}-{int(time.time()) % 100000}"
            script = self.scripts.pop(0) if self.scripts else BuildScript()
            run = FakeRun(name, kind, dict(kwargs), script)
            self.runs[name] = run
            self.created.append((kind, dict(kwargs)))
            return run

    def run(self, name: str) -> FakeRun | None:
        run = self.runs.get(name)
        if run is None or run.removed:
            return None
        return run
