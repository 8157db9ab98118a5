"""The scripted "cluster" behind the osbs stand-in.

A test describes each build it expects the code to create with a
:class:`~fake_pipelinerun.BuildScript` (log lines per pipeline task, final
state, results, faults) and afterwards inspects what was created, cancelled
and removed. How one run behaves is :mod:`fake_pipelinerun`; this module is
the cluster: which runs exist, the HTTP faults, the API's answers, the clock.
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
from typing import Any, Callable, Union

from fake_pipelinerun import STEP_CONTAINER, BuildScript, FakeRun

_current: FakeOpenShift | None = None


def install(cluster: FakeOpenShift | None) -> None:
    global _current
    _current = cluster


def current() -> FakeOpenShift:
    if _current is None:
        raise RuntimeError("no FakeOpenShift installed; use the fake_osbs fixture")
    return _current


_PIPELINE_RUN_PATH = re.compile(
    r"^apis/tekton\.dev/v1beta1/namespaces/[^/]+/pipelineruns/([^/]+)$"
)
_TASK_RUN_PATH = re.compile(r"^apis/tekton\.dev/v1beta1/namespaces/[^/]+/taskruns/([^/]+)$")
_POD_LOG_PATH = re.compile(r"^api/v1/namespaces/[^/]+/pods/([^/]+)/log$")


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
