"""The scripted "cluster" behind the osbs stand-in.

A test describes each build it expects the code to create with a
:class:`BuildScript` (log lines per pipeline task, final state, results,
faults) and afterwards inspects what was created, cancelled and removed.
The stand-in ``osbs.api.OSBS`` talks to the cluster installed with
:func:`install` (the ``fake_osbs`` fixture does that).

Runs progress on the cluster's side, as on a real cluster: a run starts
(when its ``start`` gate is open), its tasks run stage by stage, and it
finishes when no task waits on a :class:`Pause` any more; a cancel turns it
into ``CancelledRunFinally`` and, ``finally_seconds`` later, into
``cancel_reason``. Time is the cluster's clock: osbs-client's own waits
(5 s polls, HTTP backoff, git clone retries) go through :meth:`FakeOpenShift.sleep`,
which advances that clock at once (and pauses a few milliseconds for real so
other threads move on), so tests see osbs-client's real intervals without
waiting them out. :meth:`FakeOpenShift.share_clock` puts the cluster on a
test's fake clock, so the backend's own clock sees that time pass too.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Union

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
    """A log item that holds its task (and so the run) until ``event`` is set or a cancel.

    Also usable as a BuildScript's ``start`` gate: the run stays not yet
    started until the event is set.
    """

    event: threading.Event = field(default_factory=threading.Event)


@dataclass
class Delay:
    """A log item that sleeps (for real) before the next line of the task is streamed."""

    seconds: float


LogItem = Union[str, bytes, Pause, Delay]

#: Tekton reasons of a finished run whose condition status is "True".
SUCCEEDED_REASONS = ("Succeeded", "Completed")
#: Reasons of a run that exists but has not started running yet (condition status "Unknown").
NOT_STARTED_REASON = "Started"
#: Reason while a cancelled run's finally tasks run (osbs-client 2.8 patches spec.status so).
CANCELLING_REASON = "CancelledRunFinally"


@dataclass
class BuildScript:
    """How one PipelineRun behaves.

    ``tasks`` maps pipeline task names to their log items; ``bytes`` items
    that are not UTF-8 make the stream raise UnicodeDecodeError as
    osbs-client does. ``stages`` groups task names that start together
    (default: all at once); a stage starts when every task before it is done.
    ``start`` holds the whole run in its not-started state until released.
    ``state`` is the final Tekton reason (Succeeded, Completed, Failed,
    PipelineRunCancelled for a run cancelled in OSBS). A cancel through
    osbs-client shows ``CancelledRunFinally`` for ``finally_seconds`` and then
    ``cancel_reason`` (current Tekton says ``Cancelled``).
    ``stream_breaks`` is consumed one entry per log-stream open: after that
    many lines the stream raises the exception, or just ends early when the
    exception is None (osbs-client swallows connection drops that way).
    ``pod_log_status`` is the HTTP status of the pods' log endpoint (the
    lower-layer read of a task's whole log).
    """

    tasks: dict[str, list[LogItem]] = field(default_factory=dict)
    stages: list[list[str]] | None = None
    start: Pause | None = None
    state: str = "Succeeded"
    cancel_reason: str = "Cancelled"
    finally_seconds: float = 10.0
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
    """Server-side state of one PipelineRun; its reason follows from the script and the clock."""

    def __init__(self, cluster: FakeOpenShift, name: str, kind: str, kwargs: dict, script):
        self.cluster = cluster
        self.name = name
        self.kind = kind
        self.kwargs = kwargs
        self.script = script
        self.removed = False
        self.cancelled = threading.Event()
        self.cancelled_at: float | None = None
        self.log_opens = 0
        self._final: str | None = None
        self._tasks_at_cancel: list[str] | None = None

    # -- progress ----------------------------------------------------------
    def started(self) -> bool:
        gate = self.script.start
        return gate is None or gate.event.is_set()

    def _task_done(self, task: str) -> bool:
        return not any(
            isinstance(item, Pause) and not item.event.is_set() for item in self.script.tasks[task]
        )

    def _stages(self) -> list[list[str]]:
        if self.script.stages is not None:
            return self.script.stages
        return [list(self.script.tasks)]

    def started_tasks(self) -> list[str]:
        """Tasks whose TaskRuns exist: every stage up to the first one not yet done.

        A cancel starts no further stage.
        """
        if self._tasks_at_cancel is not None:
            return self._tasks_at_cancel
        if not self.started():
            return []
        tasks: list[str] = []
        for stage in self._stages():
            tasks.extend(stage)
            if not all(self._task_done(task) for task in stage):
                break
        return tasks

    @property
    def reason(self) -> str:
        if self._final is not None:
            return self._final
        if self.cancelled_at is not None:
            if self.cluster.now() >= self.cancelled_at + self.script.finally_seconds:
                self._final = self.script.cancel_reason
                return self._final
            return CANCELLING_REASON
        if not self.started():
            return NOT_STARTED_REASON
        if all(self._task_done(task) for task in self.script.tasks):
            self._final = self.script.state
            return self._final
        return "Running"

    @property
    def finished(self) -> bool:
        return self.reason_status() != "Unknown"

    def reason_status(self) -> str:
        reason = self.reason
        if self._final is None:
            return "Unknown"
        return "True" if reason in SUCCEEDED_REASONS else "False"

    def cancel(self) -> None:
        """The cluster's answer to osbs-client's cancel (spec.status CancelledRunFinally)."""
        if self.finished or self.cancelled_at is not None:
            return
        self._tasks_at_cancel = self.started_tasks()
        self.cancelled_at = self.cluster.now()
        self.cancelled.set()
        for pause in self.pending_pauses():
            pause.event.set()

    # -- API objects -------------------------------------------------------
    def info(self) -> dict | None:
        if self.removed:
            return None
        status = self.reason_status()
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
                    for task in self.started_tasks()
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


#: HTTP faults a test can script: connection refused, a read timeout, an answer lost
#: after the server did the request, or an HTTP status.
HttpFault = Union[str, int]
REFUSED = "refused"
TIMEOUT = "timeout"
LOST = "lost"


class FakeOpenShift:
    """Scripted OSBS/OpenShift: builds, faults and a record of every call."""

    #: Real seconds each virtual sleep also takes, so that other threads progress.
    REAL_PAUSE = 0.002

    def __init__(self) -> None:
        self.scripts: list[BuildScript] = []
        self.runs: dict[str, FakeRun] = {}
        self.created: list[tuple[str, dict]] = []
        self.cancelled: list[str] = []
        self.removed: list[str] = []
        self.calls: list[tuple[str, tuple]] = []
        self.configurations: list[Any] = []
        self.faults: dict[str, list[BaseException]] = {}
        #: every HTTP attempt the client made: (method, url, fault or None)
        self.http_attempts: list[tuple[str, str, HttpFault | None]] = []
        self.http_faults: list[HttpFault] = []
        #: every wait osbs-client itself made (seconds), in order
        self.sleeps: list[float] = []
        self._virtual_now = 0.0
        self._now: Callable[[], float] = lambda: self._virtual_now
        self._advance: Callable[[float], None] = self._advance_virtual
        self.lock = threading.Lock()

    # -- time ------------------------------------------------------------
    def _advance_virtual(self, seconds: float) -> None:
        self._virtual_now += seconds

    def share_clock(self, clock: Any) -> None:
        """Run on ``clock`` (anything with a writable ``now``): client waits move it forward."""

        def advance(seconds: float) -> None:
            clock.now += seconds

        self._now = lambda: clock.now
        self._advance = advance

    def now(self) -> float:
        return self._now()

    def sleep(self, seconds: float) -> None:
        """A wait inside osbs-client (time.sleep there): recorded in ``sleeps``; time passes."""
        self.sleeps.append(seconds)
        self.pass_time(seconds)

    def pass_time(self, seconds: float) -> None:
        """The cluster's clock moves on by ``seconds`` (a watch waiting for a change, a sleep)."""
        with self.lock:
            self._advance(seconds)
        time.sleep(self.REAL_PAUSE)

    # -- scripting -------------------------------------------------------
    def script(self, script: BuildScript | None = None, **kwargs) -> BuildScript:
        """Queue the behaviour of the next created build."""
        script = script or BuildScript(**kwargs)
        self.scripts.append(script)
        return script

    def fail(self, operation: str, *errors: BaseException) -> None:
        """Make the next calls of ``operation`` (an OSBS method name) raise ``errors``.

        The error is what osbs-client finally raises, after its own retries.
        """
        self.faults.setdefault(operation, []).extend(errors)

    def fail_http(self, fault: HttpFault, times: int = 1) -> None:
        """Make the next ``times`` HTTP attempts (any request) fail with ``fault``.

        ``REFUSED``: connection refused at once; ``TIMEOUT``: no answer within
        osbs-client's request timeout; ``LOST``: the server did the request but
        its answer never came (a timeout for the client); an int: the API
        server answers with that status. osbs-client's own retry policy applies
        to each attempt.
        """
        self.http_faults.extend([fault] * times)

    def add_run(self, name: str, script: BuildScript, kind: str = "binary") -> FakeRun:
        """A run that exists already (created before a simulated kojid restart)."""
        run = FakeRun(self, name, kind, {}, script)
        self.runs[name] = run
        return run

    # -- used by the osbs stand-in ---------------------------------------
    def check_fault(self, operation: str, args: tuple) -> None:
        self.calls.append((operation, args))
        queue = self.faults.get(operation)
        if queue:
            raise queue.pop(0)

    def http_attempt(self, method: str, url: str) -> HttpFault | None:
        """One HTTP attempt of the client: the scripted fault it meets, or None."""
        with self.lock:
            fault = self.http_faults.pop(0) if self.http_faults else None
            self.http_attempts.append((method, url, fault))
        return fault

    def create(self, name: str, kind: str, kwargs: dict) -> FakeRun | None:
        """Create the PipelineRun ``name``; None when that name exists (HTTP 409)."""
        with self.lock:
            if name in self.runs:
                return None
            script = self.scripts.pop(0) if self.scripts else BuildScript()
            run = FakeRun(self, name, kind, dict(kwargs), script)
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
            for task in run.started_tasks():
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
        runs = self.runs
        found = runs.get(name)
        if found is None or found.removed:
            return None
        return found
