"""The scripted "cluster" behind the osbs stand-in.

A test describes each build it expects the code to create with a
:class:`BuildScript` (log lines per pipeline task, final state, results,
faults) and afterwards inspects what was created, cancelled and removed.
The stand-in ``osbs.api.OSBS`` talks to the cluster installed with
:func:`install` (the ``fake_osbs`` fixture does that).
"""

from __future__ import annotations

import json
import re
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
    ``pod_log_status`` is the HTTP status of the pods' log endpoint (the
    lower-layer read of a task's whole log).
    """

    tasks: dict[str, list[LogItem]] = field(default_factory=dict)
    state: str = "Succeeded"
    cancel_reason: str = "PipelineRunCancelled"
    results: dict[str, Any] | None = None
    error_message: str = "Error in binary-container-build-x86-64: build failed;"
    stream_breaks: list[tuple[int, BaseException | None]] = field(default_factory=list)
    pod_log_status: int = 200


#: Container of the single step of every scripted task (Tekton names it step-<step>).
STEP_CONTAINER = "step-build"
_PIPELINE_RUN_PATH = re.compile(
    r"^apis/tekton\.dev/v1beta1/namespaces/[^/]+/pipelineruns/([^/]+)$"
)
_TASK_RUN_PATH = re.compile(r"^apis/tekton\.dev/v1beta1/namespaces/[^/]+/taskruns/([^/]+)$")
_POD_LOG_PATH = re.compile(r"^api/v1/namespaces/[^/]+/pods/([^/]+)/log$")


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
            "status": {
                "conditions": [{"status": status, "reason": self.reason}],
                "childReferences": [
                    {
                        "apiVersion": "tekton.dev/v1beta1",
                        "kind": "TaskRun",
                        "name": self.task_run_name(task),
                        "pipelineTaskName": task,
                    }
                    for task in self.script.tasks
                ],
            },
        }

    def task_run_name(self, task: str) -> str:
        return f"{self.name}-{task}"

    def task_run_info(self, task: str) -> dict:
        name = self.task_run_name(task)
        return {
            "metadata": {"name": name, "labels": {"tekton.dev/pipelineTask": task}},
            "status": {
                "podName": f"{name}-pod",
                "steps": [{"name": STEP_CONTAINER[len("step-") :], "container": STEP_CONTAINER}],
            },
        }

    def pod_log(self, task: str) -> bytes:
        """The whole log of a task's pod as the log endpoint returns it: raw bytes."""
        lines = [
            item if isinstance(item, bytes) else item.encode("utf-8")
            for item in self.script.tasks[task]
            if isinstance(item, (str, bytes))
        ]
        return b"".join(line + b"\n" for line in lines)

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

    def http_get(self, path: str, query: dict) -> tuple[int, bytes]:
        """Answer a GET of the OpenShift API (path below the API URL): status, body."""
        for pattern, answer in (
            (_PIPELINE_RUN_PATH, self._get_pipeline_run),
            (_TASK_RUN_PATH, self._get_task_run),
            (_POD_LOG_PATH, self._get_pod_log),
        ):
            match = pattern.match(path)
            if match:
                found = answer(match.group(1), query)
                if found is not None:
                    return found
        body = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
        return 404, json.dumps(body).encode()

    def _get_pipeline_run(self, name: str, query: dict) -> tuple[int, bytes] | None:
        run = self.run(name)
        return None if run is None else (200, json.dumps(run.info()).encode())

    def _task_of(self, task_run_name: str) -> tuple[FakeRun, str] | None:
        for run in self.runs.values():
            for task in run.script.tasks:
                if not run.removed and run.task_run_name(task) == task_run_name:
                    return run, task
        return None

    def _get_task_run(self, name: str, query: dict) -> tuple[int, bytes] | None:
        found = self._task_of(name)
        if found is None:
            return None
        run, task = found
        return 200, json.dumps(run.task_run_info(task)).encode()

    def _get_pod_log(self, pod: str, query: dict) -> tuple[int, bytes] | None:
        found = self._task_of(pod[: -len("-pod")]) if pod.endswith("-pod") else None
        if found is None or query.get("container") != STEP_CONTAINER:
            return None
        run, task = found
        if run.script.pod_log_status != 200:
            body = {"kind": "Status", "status": "Failure", "code": run.script.pod_log_status}
            return run.script.pod_log_status, json.dumps(body).encode()
        return 200, run.pod_log(task)

    def run(self, name: str) -> FakeRun | None:
        run = self.runs.get(name)
        if run is None or run.removed:
            return None
        return run
