"""Reading an OSBS build's logs through osbs-client 2.8 without losing lines.

osbs-client's ``get_build_logs(follow=True, wait=True)`` restarts every
pipeline task's log at its first line when opened again, and dies with
UnicodeDecodeError on a line that is not UTF-8 (at the same line again on
every re-open). :class:`OsbsLogFeed` resumes broken streams without
repeating lines, reads the rest of the log as raw bytes through
osbs-client's lower layers (osbs.tekton, the pods' log endpoint) after such
a line, and hands the lines out as whole iterators for
:func:`koji_containerbuild.logs.stream.stream_build_logs`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections import Counter
from collections.abc import Generator, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import REMOTE_SOURCES, BackendError, TransientBackendError
from koji_containerbuild.logs.lines import NO_MARKS, Marks

if TYPE_CHECKING:
    from koji_containerbuild.backends.osbs.backend import OsbsBackend

logger = logging.getLogger(f"{LOGGER_NAME}.backends.osbs")

_ARCH_TASK_RE = re.compile(r"^binary-container-build-([A-Za-z0-9_-]+)$")
#: First item of the key of a note this plugin adds to a task's log.
NOTE = "koji-containerbuild"

#: Pipeline tasks that run only atomic-reactor's own plugins: their lines may
#: carry user warnings. The build tasks (binary-container-build-<arch>) log
#: the Dockerfile's RUN output, and osbs-client splits lines at '\r' too, so
#: a RUN step can print a line of any shape there; the remote-sources tasks
#: log package managers run on the repository's content.
REACTOR_TASKS = frozenset(
    (
        "binary-container-init",
        "binary-container-prebuild",
        "binary-container-postbuild",
        "binary-container-exit",
        "source-container-exit",
    )
)
#: The task whose koji_import plugin logs ``platform:_metadata_`` (scratch builds).
METADATA_TASK = "binary-container-postbuild"
_REACTOR_MARKS = Marks(user_warnings=True)
_METADATA_MARKS = Marks(user_warnings=True, metadata=True)


def marks_of(key: Any) -> Marks:
    """Build-system markers the lines of a log key (a pipeline task name) may carry."""
    if key == METADATA_TASK:
        return _METADATA_MARKS
    if isinstance(key, str) and key in REACTOR_TASKS:
        return _REACTOR_MARKS
    return NO_MARKS  # build output, remote sources, this plugin's notes, unknown tasks


def platform_of(task_name: str | None) -> str | None:
    """Log platform of a pipeline task: an arch, REMOTE_SOURCES, or None."""
    if not task_name:
        return None
    if "hermeto" in task_name or "cachito" in task_name or "remote-source" in task_name:
        return REMOTE_SOURCES
    match = _ARCH_TASK_RE.match(task_name)
    if match:
        return match.group(1).replace("-", "_")
    return None


def _task_of_decode_error(exc: UnicodeDecodeError) -> str | None:
    """The pipeline task whose line failed to decode, read from osbs-client's frame."""
    traceback = exc.__traceback__
    while traceback is not None:
        name = traceback.tb_frame.f_locals.get("pipeline_task_name")
        if isinstance(name, str):
            return name
        traceback = traceback.tb_next
    return None


def _text_or_bytes(line: bytes) -> str | bytes:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line


def _skipping(stream: Iterator[Any], skip: dict[Any, int]) -> Iterator[Any]:
    """Drop the first ``skip[task]`` lines of each task; return once none are left to drop."""
    for item in stream:
        task = item[0]
        left = skip.get(task)
        if left:
            if left == 1:
                del skip[task]
                if not skip:
                    return
            else:
                skip[task] = left - 1
            continue
        yield item


class OsbsLogFeed:
    """One build's logs across re-opened streams, handed out as line iterators.

    osbs-client restarts every task's log at its first line when the stream
    is opened again, so the lines each task already delivered are skipped.
    ``delivered`` is kept up to date by the consumer (see
    :func:`koji_containerbuild.logs.stream.stream_build_logs`), which sends back the
    exception that ended each iterator. Keys are pipeline task names, and
    ``(NOTE, task)`` for notes written by this plugin.
    """

    def __init__(self, backend: OsbsBackend, handle: str):
        self.backend = backend
        self.handle = handle
        self.delivered: Counter = Counter()
        self._platforms: dict[Any, str | None] = {}

    marks_of = staticmethod(marks_of)

    def platform_of(self, key: Any) -> str | None:
        try:
            return self._platforms[key]
        except KeyError:
            task = key[1] if isinstance(key, tuple) else key
            platform = self._platforms[key] = platform_of(task)
            return platform

    def _note(self, task: str | None, text: str) -> Iterator[Any]:
        logger.warning("%s", text)
        return iter([((NOTE, task), text)])

    def _rest_from_pods(self, bad_task: str | None) -> Generator[Iterator[Any], Any, None]:
        """The rest of every task's log, read as raw bytes once the build has finished.

        osbs-client decodes each streamed line and dies on one that is not
        UTF-8, at the same line on every re-open; its lower layers hand out
        the pods' whole logs as bytes, so the lines each task already
        delivered are skipped and the rest follows task by task, a line that
        is not UTF-8 as bytes. If that fails too, the log and the result say so.
        """
        backend = self.backend
        handle = self.handle
        where = f"task {bad_task}" if bad_task else "a task"
        # in the build log only: the task's own log stays exactly its lines
        yield self._note(
            None,
            f"koji-containerbuild: a line of {where} is not UTF-8 and osbs-client cannot stream "
            "past it; the rest of the build log follows when the build has finished.",
        )
        osbs = backend._osbs_for(handle)
        try:
            while backend._checked("check the build state", osbs.build_not_finished, handle):
                backend._checked("wait for the build", osbs.wait_for_build_to_finish, handle)
            logs = backend._call("read the build's task logs", self._pod_logs, osbs)
        except Exception as exc:  # any failure here only means the log stays cut
            note = (
                f"koji-containerbuild: the log of OSBS build {handle} is incomplete: the rest of "
                f"the log after the line of {where} that is not UTF-8 could not be read "
                f"({describe(exc)}); the whole log is in OSBS."
            )
            backend.incomplete_logs[handle] = note
            yield self._note(bad_task, note)
            return
        for task, lines in logs:
            rest = lines[self.delivered.get(task, 0) :]
            if rest:
                yield ((task, _text_or_bytes(line)) for line in rest)

    def _pod_logs(self, osbs: Any) -> list[tuple[str, list[bytes]]]:
        """Every task run's whole log as bytes lines, through osbs-client's lower layers."""
        tekton = self.backend._tekton
        openshift = osbs.os
        logs = []
        for reference in tekton.PipelineRun(openshift, self.handle).child_references:
            info = tekton.TaskRun(openshift, reference["name"]).get_info()
            task = info["metadata"]["labels"]["tekton.dev/pipelineTask"]
            pod = info["status"]["podName"]
            lines: list[bytes] = []
            for step in info["status"]["steps"]:
                url = openshift.build_url(
                    "api", "v1", f"pods/{pod}/log", container=step["container"]
                )
                response = openshift.get(url)
                tekton.check_response(response)
                # the stream splits lines the same way (requests' iter_lines)
                lines.extend(response.content.splitlines())
            logs.append((task, lines))
        return logs

    def streams(self) -> Generator[Iterator[Any], BaseException | None, None]:
        backend = self.backend
        handle = self.handle
        osbs = backend._osbs_for(handle)
        delivered = self.delivered
        retry_deadline: float | None = None
        delay = 1.0
        while True:
            stream = iter(
                backend._checked(
                    "read the build logs", osbs.get_build_logs, handle, follow=True, wait=True
                )
            )
            skip = {key: n for key, n in delivered.items() if n and not isinstance(key, tuple)}
            before = sum(delivered.values())
            try:
                error = yield chain(_skipping(stream, skip), stream) if skip else stream
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            if sum(delivered.values()) > before:
                retry_deadline = None
                delay = 1.0
            if isinstance(error, UnicodeDecodeError):
                task = _task_of_decode_error(error)
                if task is not None and not skip.get(task):
                    yield iter([(task, bytes(error.object))])
                # osbs-client would fail at that line again on every re-open
                yield from self._rest_from_pods(task)
                return
            if error is None:
                if not backend._checked("check the build state", osbs.build_not_finished, handle):
                    return
                problem = "the stream ended before the build finished"
            elif isinstance(error, backend._exc.OsbsException):
                if not backend._is_transient(error):
                    raise BackendError(
                        f"The log stream of OSBS build {handle} failed "
                        f"({describe(error)}); the task log is incomplete."
                    ) from error
                problem = describe(error)
            else:
                raise error
            if retry_deadline is None:
                retry_deadline = backend._clock() + backend.settings.retry_seconds
            remaining = retry_deadline - backend._clock()
            if remaining <= 0:
                raise TransientBackendError(
                    f"The log stream of OSBS build {handle} broke ({problem}) and could not be "
                    f"resumed for {backend.settings.retry_seconds:.0f} seconds; the task log is "
                    "incomplete."
                )
            logger.warning("Log stream of %s broke (%s); resuming", handle, problem)
            backend._sleep(min(delay, remaining))
            delay = min(delay * 2, backend.max_backoff)


def describe(exc: BaseException) -> str:
    """One line for an osbs-client exception, without its embedded traceback."""
    message = getattr(exc, "message", None)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if isinstance(message, str) and message.lstrip().startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(message).get("message") or message
    if not message:
        cause = getattr(exc, "cause", None)
        message = str(cause) if cause is not None else str(exc)
    return " ".join(str(message).split())
