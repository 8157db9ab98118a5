"""One scripted PipelineRun of the fake cluster: its script and how it progresses.

Apart from :mod:`fake_openshift` (the cluster: which runs exist, HTTP faults,
the OpenShift API's answers, the clock) because this is the vocabulary a test
scripts a build with (:class:`BuildScript`, :class:`Pause`, :class:`Delay`) and
the Tekton states one run goes through, which need no cluster but its clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from fake_openshift import FakeOpenShift


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
