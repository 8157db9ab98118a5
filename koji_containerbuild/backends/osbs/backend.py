"""The OSBS backend: container builds as OSBS (Tekton) PipelineRuns via osbs-client 2.8.

osbs-client is imported only when the backend is created, so a builder
without it (or with a broken install) fails the task with a sentence naming
the package instead of taking kojid down. The handle is the PipelineRun name.

Transient faults (network errors, HTTP 5xx) are retried here, with
exponential backoff, for ``OsbsSettings.retry_seconds``. osbs-client 2.8
would also retry every HTTP request itself (urllib3: 8 retries, backoff
factor 4, about 480 s per request, not configurable in osbs.conf), so the
backend switches that off on each client (``Openshift.retries_enabled``)
and its own limit is the one that counts. What osbs-client still does on
its own, and so what else bounds a call: one HTTP attempt may last up to its
request timeout (600 s) and one started before the limit runs to its end; a
binary build's create clones the source and retries a failed clone 3 times
(60 + 120 + 240 s); cancel retries an HTTP 409 conflict 8 times (5 s
doubling); a log stream reconnects its watches up to 20 times, 5 s apart.
A create is sent again only when it cannot have reached OSBS (no
connection, HTTP 503): after a timeout or a lost answer the build may exist,
so the task fails saying so instead of starting a second build.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import (
    BackendError,
    BuildBackend,
    BuildRequest,
    BuildResult,
    Outcome,
    TransientBackendError,
)
from koji_containerbuild.backends.osbs.logs import NOTE, OsbsLogFeed, platform_of
from koji_containerbuild.backends.osbs.logs import describe as _describe

__all__ = ["NOTE", "OsbsBackend", "OsbsLogFeed", "create", "platform_of"]

logger = logging.getLogger(f"{LOGGER_NAME}.backends.osbs")

#: Tekton reasons of a cancelled PipelineRun (osbs-client 2.8 knows only the first).
CANCELLED_REASONS = ("PipelineRunCancelled", "Cancelled")
_MAX_BACKOFF = 30.0

#: Options of a buildContainer task passed to OSBS under the same name.
_BINARY_PASSTHROUGH = (
    "compose_ids",
    "dependency_replacements",
    "koji_parent_build",
    "release",
    "yum_repourls",
    "signing_intent",
    "userdata",
)


def create(settings: Any, **kwargs: Any) -> OsbsBackend:
    """Backend factory used by :func:`koji_containerbuild.backends.create_backend`."""
    return OsbsBackend(settings, **kwargs)


def _load_osbs() -> tuple[Any, Any, Any, Any]:
    try:
        from osbs import exceptions, tekton
        from osbs.api import OSBS
        from osbs.conf import Configuration
    except Exception as exc:
        raise BackendError(
            "The OSBS backend cannot load osbs-client "
            f"({type(exc).__name__}: {exc}); install the osbs-client package "
            "(python3-osbs-client) on this builder or choose another backend in "
            "builder_containerbuild.conf."
        ) from exc
    return OSBS, Configuration, exceptions, tekton


class OsbsBackend(BuildBackend):
    name = "osbs"
    imports_builds = True
    resolves_parent_builds = True
    max_backoff = _MAX_BACKOFF

    def __init__(
        self,
        settings: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._osbs_class, self._conf_class, self._exc, self._tekton = _load_osbs()
        self._clients: dict[str, tuple[Any, Any]] = {}
        self._kinds: dict[str, str] = {}
        #: handle -> why its log could not be read to the end (also in the log itself)
        self.incomplete_logs: dict[str, str] = {}

    # -- clients -------------------------------------------------------------
    def _client(self, kind: str) -> tuple[Any, Any]:
        section = (
            self.settings.source_section if kind == "source" else (self.settings.binary_section)
        )
        if section not in self._clients:
            conf = self._conf_class(conf_file=self.settings.conf_file, conf_section=section)
            osbs = self._osbs_class(conf)
            # osbs-client's own HTTP retries would outlast retry_seconds (see module docstring)
            osbs.os.retries_enabled = False
            self._clients[section] = (osbs, conf)
        return self._clients[section]

    def _osbs_for(self, handle: str) -> Any:
        # a build neither started nor re-attached here is taken for a binary one
        return self._client(self._kinds.get(handle, "binary"))[0]

    # -- fault handling ------------------------------------------------------
    def _is_transient(self, exc: BaseException) -> bool:
        import requests

        if isinstance(exc, self._exc.OsbsNetworkException):
            return True
        if isinstance(exc, self._exc.OsbsResponseException):
            return (exc.status_code or 0) >= 500
        cause = getattr(exc, "cause", None)
        return isinstance(cause, (requests.ConnectionError, requests.Timeout))

    def _never_arrived(self, exc: BaseException) -> bool:
        """True when the request cannot have reached OSBS: no connection, or HTTP 503.

        Only such a create may be sent again: after a timeout or a dropped
        answer the build may exist, and a new create would start a second one.
        """
        import requests
        from urllib3.exceptions import ConnectTimeoutError

        if isinstance(exc, self._exc.OsbsResponseException):
            return exc.status_code == 503
        cause = getattr(exc, "cause", None)
        if isinstance(cause, requests.ConnectTimeout):
            return True
        if isinstance(cause, requests.ConnectionError) and cause.args:
            # requests wraps urllib3's MaxRetryError; its reason tells a failed connect apart
            return isinstance(getattr(cause.args[0], "reason", None), ConnectTimeoutError)
        return False

    def _call(
        self,
        what: str,
        func: Callable,
        *args: Any,
        retry_if: Callable[[BaseException], bool] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call osbs-client, retrying transient faults (those ``retry_if`` allows) for
        settings.retry_seconds."""
        retry_if = retry_if or self._is_transient
        deadline = self._clock() + self.settings.retry_seconds
        delay = 1.0
        while True:
            try:
                return func(*args, **kwargs)
            except self._exc.OsbsException as exc:
                if not retry_if(exc):
                    raise
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise TransientBackendError(
                        f"OSBS did not answer when asked to {what} for "
                        f"{self.settings.retry_seconds:.0f} seconds ({_describe(exc)}); "
                        "check that OSBS is reachable and resubmit the build."
                    ) from exc
                logger.warning("OSBS fault while trying to %s, retrying: %s", what, exc)
                self._sleep(min(delay, remaining))
                delay = min(delay * 2, _MAX_BACKOFF)

    def _checked(self, what: str, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Like _call, but permanent OSBS errors become a BackendError sentence."""
        try:
            return self._call(what, func, *args, **kwargs)
        except self._exc.OsbsException as exc:
            raise BackendError(f"OSBS could not {what}: {_describe(exc)}") from exc

    # -- the interface -------------------------------------------------------
    def start(self, request: BuildRequest) -> str:
        osbs, conf = self._client(request.kind)
        if request.kind == "source":
            method = osbs.create_source_container_build
            arguments = self._source_arguments(request)
        else:
            method = osbs.create_binary_container_build
            arguments = self._binary_arguments(request, conf)
        try:
            run = self._call("create the build", method, retry_if=self._never_arrived, **arguments)
        except self._exc.OsbsValidationException as exc:
            raise BackendError(
                f"OSBS refused the build: {_clause(exc)}; correct it and submit the build again."
            ) from exc
        except self._exc.OsbsException as exc:
            if self._is_transient(exc):
                raise TransientBackendError(
                    f"OSBS did not answer when asked to create the build ({_clause(exc)}), so "
                    f"a build for Koji task {request.task_id} may have started there anyway; "
                    "cancel it in OSBS if it did, then submit the build again."
                ) from exc
            raise BackendError(f"OSBS could not start the build: {_clause(exc)}.") from exc
        handle = self._checked("name the new build", osbs.get_build_name, run)
        self._kinds[handle] = request.kind
        logger.info("Task %s: OSBS build %s created", request.task_id, handle)
        return handle

    def _binary_arguments(self, request: BuildRequest, conf: Any) -> dict[str, Any]:
        opts = request.opts
        arguments: dict[str, Any] = {
            "git_uri": request.git_uri,
            "git_ref": request.git_ref,
            "git_branch": request.git_branch,
            "component": request.component,
            "flatpak": request.flatpak,
            "isolated": request.isolated,
            "koji_task_id": request.task_id,
            "target": request.target,
            "operator_csv_modifications_url": opts.get("operator_csv_modifications_url"),
            "platforms": list(request.platforms),
            "scratch": request.scratch,
            "user": request.owner,
            "default_buildtime_limit": conf.get_default_buildtime_limit(),
            "max_buildtime_limit": conf.get_max_buildtime_limit(),
        }
        for key in _BINARY_PASSTHROUGH:
            if opts.get(key) is not None:
                arguments[key] = opts[key]
        if arguments["operator_csv_modifications_url"] is None:
            del arguments["operator_csv_modifications_url"]
        return arguments

    def _source_arguments(self, request: BuildRequest) -> dict[str, Any]:
        opts = request.opts
        arguments: dict[str, Any] = {
            "component": request.component,
            "koji_task_id": request.task_id,
            "target": request.target,
            "sources_for_koji_build_nvr": request.source_build_nvr,
            "sources_for_koji_build_id": request.source_build_id,
            "scratch": request.scratch,
            "user": request.owner,
            "signing_intent": opts.get("signing_intent"),
            "userdata": opts.get("userdata"),
        }
        return {key: value for key, value in arguments.items() if value is not None}

    def log_feed(self, handle: str) -> OsbsLogFeed:
        """The build's logs as whole line iterators (for logs.stream_build_logs)."""
        return OsbsLogFeed(self, handle)

    def wait(self, handle: str) -> BuildResult:
        osbs = self._osbs_for(handle)
        while True:
            self._checked("wait for the build", osbs.wait_for_build_to_finish, handle)
            if not self._checked("check the build state", osbs.build_not_finished, handle):
                break
        if self._checked("look the build up", osbs.get_build, handle) is None:
            return BuildResult(
                outcome=Outcome.FAILED,
                reason="it no longer exists in OSBS.",
                build_name=handle,
            )
        reason = self._checked("read the build state", osbs.get_build_reason, handle)
        if reason in CANCELLED_REASONS or self._checked(
            "read the build state", osbs.build_was_cancelled, handle
        ):
            return BuildResult(
                outcome=Outcome.CANCELLED,
                reason="it was cancelled in OSBS.",
                build_name=handle,
            )
        if self._checked("read the build state", osbs.build_has_succeeded, handle):
            results = self._checked("read the build results", osbs.get_build_results, handle)
            result = _success(handle, results or {})
            result.extra.update(self._extra(handle))
            return result
        message = self._checked("read the build error", osbs.get_build_error_message, handle)
        message = (message or "no error message").strip().rstrip(";").strip()
        return BuildResult(
            outcome=Outcome.FAILED,
            reason=message,
            build_name=handle,
            extra=self._extra(handle),
        )

    def _extra(self, handle: str) -> dict[str, Any]:
        note = self.incomplete_logs.get(handle)
        return {"logs_incomplete": note} if note else {}

    def cancel(self, handle: str) -> None:
        osbs = self._osbs_for(handle)
        try:
            self._call("cancel the build", osbs.cancel_build, handle)
        except self._exc.OsbsException as exc:
            # already finished or gone: nothing left to stop
            logger.info("Cancelling OSBS build %s: %s", handle, _describe(exc))

    def cleanup(self, handle: str) -> None:
        if not self.settings.remove_finished_builds:
            return
        osbs = self._osbs_for(handle)
        try:
            self._checked("remove the finished build", osbs.remove_build, handle)
        except BackendError as exc:
            logger.warning("%s", exc)

    def lookup(self, handle: str) -> bool:
        osbs = self._osbs_for(handle)
        return self._checked("look the build up", osbs.get_build, handle) is not None

    def reattach(self, handle: str, request: BuildRequest) -> bool:
        # the run name cannot tell: a binary build of "source-highlight" starts with "source-"
        self._kinds[handle] = request.kind
        return self.lookup(handle)


def _clause(exc: BaseException) -> str:
    """osbs-client's message as the end of one of our sentences (its own full stop dropped)."""
    return _describe(exc).rstrip(". ")


def _success(handle: str, results: dict[str, Any]) -> BuildResult:
    repositories: list[str] = []
    groups = results.get("repositories") or {}
    for group in ("primary", "unique", "floating"):
        for repository in groups.get(group) or []:
            if repository not in repositories:
                repositories.append(repository)
    koji_build_id = results.get("koji-build-id")
    platforms_result = results.get("platforms_result") or {}
    if isinstance(platforms_result, str):
        try:
            platforms_result = json.loads(platforms_result)
        except ValueError:
            platforms_result = {}
    platforms = list(platforms_result.get("platforms") or [])
    return BuildResult(
        outcome=Outcome.SUCCEEDED,
        repositories=repositories,
        koji_build_id=int(koji_build_id) if koji_build_id not in (None, "") else None,
        platforms=platforms,
        build_name=handle,
    )
