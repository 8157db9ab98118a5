"""The local backend: build with buildah on this machine, push to a local registry.

For one-machine setups (the sandbox, the demo, the tests). Each build runs in
a detached runner process (:mod:`.local_runner`) with its own directory under
``state_dir``; the handle is that directory's name, so a task re-run after a
kojid restart follows the same build. Builds are not imported into Koji here:
the builder imports them through the Content Generator API (:mod:`..cg`).
Finding and stopping a runner's processes is :mod:`.procs`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from typing import Any

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import (
    BackendError,
    BuildBackend,
    BuildRequest,
    BuildResult,
    ImageOutput,
    LogLine,
    Outcome,
)
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry
from koji_containerbuild.backends.local import runner as local_runner
from koji_containerbuild.backends.local.procs import same_process, stop_runner
from koji_containerbuild.hostarch import host_arch
from koji_containerbuild.image.imagetags import ImageTags, tags_for_build
from koji_containerbuild.image.labels import repository_problem
from koji_containerbuild.image.sourcefiles import SourceFileError, check_source_files
from koji_containerbuild.optnames import option_name

log = logging.getLogger(f"{LOGGER_NAME}.backends.local")

_TAG_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_POLL = 0.1


def create(settings: Any) -> LocalBackend:
    """Entry point used by :func:`koji_containerbuild.backends.create_backend`."""
    return LocalBackend(settings)


def unique_tag(request: BuildRequest, stamp: str) -> str:
    """A tag no other build uses: version-release (or the task) plus a timestamp."""
    base = f"{request.version}-{request.release}" if request.version and request.release else ""
    tag = f"{base or 'scratch'}-{request.task_id}-{stamp}"
    return _TAG_BAD_CHARS.sub("_", tag)[-128:].lstrip(".-")


class LocalBackend(BuildBackend):
    name = "local"
    imports_builds = False
    # another arch than this host's is built by a subtask on a builder of that arch
    arch_subtasks = True
    # No flatpak (needs flatpak-module-tools and ODCS) or source container builds here.
    supported_kinds = frozenset({"container"})
    supported_options = frozenset(
        {"scratch", "isolated", "git_branch", "arch_override", "release",
         "koji_parent_build", "yum_repourls", "userdata"}
    )  # fmt: skip

    def __init__(self, settings: Any) -> None:
        self.settings = bh.settings_dict(settings)
        if not self.settings.get("isolation"):
            self.settings["isolation"] = "chroot"
        self.state_dir = os.path.abspath(self.settings.get("state_dir") or ".")

    # -- paths and runner state -------------------------------------------
    def build_dir(self, handle: str) -> str:
        if not bh.valid_handle(handle):
            raise BackendError(f"{handle!r} is not a local build handle.")
        return os.path.join(self.state_dir, handle)

    def _path(self, handle: str, name: str) -> str:
        return os.path.join(self.build_dir(handle), name)

    def _status(self, handle: str) -> dict[str, Any] | None:
        return bh.read_json(self._path(handle, bh.STATUS_FILE))

    def _runner_pids(self, handle: str) -> tuple[int, int] | None:
        runner = bh.read_json(self._path(handle, bh.RUNNER_FILE))
        if not runner or not same_process(runner["pid"], runner["start_ticks"]):
            return None
        return runner["pid"], runner["pgid"]

    def _finished(self, handle: str) -> bool:
        return self._status(handle) is not None or self._runner_pids(handle) is None

    # -- the interface -----------------------------------------------------
    def start(self, request: BuildRequest) -> str:
        platforms = list(request.platforms) or [host_arch()]
        self._check_request(request, platforms)
        return self._launch_build(request, platforms, {})

    def start_image_list(self, request: BuildRequest, images: list[ImageOutput]) -> str:
        """Join per-arch images pushed by digest into one manifest list with the build's tags.

        A build like any other (its own runner, journal, lease on the task), so
        cancel, withdraw and re-attach work as for a build of every arch here.
        """
        if not images or any(bh.MANIFEST_V2 not in image.digests for image in images):
            raise BackendError("The image list needs every arch's image pushed by digest.")
        platforms = [image.arch for image in images]
        images_data = [dataclasses.asdict(image) for image in images]
        return self._launch_build(request, platforms, {"images": images_data})

    def withdraw_images(self, images: list[ImageOutput]) -> None:
        """Delete arch images of a failed multi-arch build; one a tag points at stays."""
        for image in images:
            digest = image.digests.get(bh.MANIFEST_V2, "")
            for pull in image.repositories:
                if digest and pull.endswith(f"@{digest}"):
                    for failure in registry.delete_untagged(
                        self.settings, pull.rsplit("@", 1)[0], digest
                    ):
                        log.warning("could not withdraw an arch image: %s", failure)

    def _launch_build(
        self, request: BuildRequest, platforms: list[str], more: dict[str, Any]
    ) -> str:
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y%m%d%H%M%S")
        handle = f"{request.task_id}-{stamp}-{secrets.token_hex(3)}"
        build_dir = self.build_dir(handle)
        os.makedirs(build_dir, mode=0o750)
        request_data = dataclasses.asdict(request)
        request_data["platforms"] = platforms
        repository = f"{self.settings['registry']}/{request.name}"
        if request.push_by_digest:  # one arch of a multi-arch build: its parent tags the list
            tags = ImageTags(unique=[])
        else:
            tags = tags_for_build(
                unique_tag(request, stamp),
                scratch=request.scratch,
                isolated=request.isolated,
                version=request.version,
                release=request.release,
                additional_tags=request.additional_tags,
            )
        bh.write_json(
            os.path.join(build_dir, bh.BUILD_FILE),
            {
                "request": request_data,
                "settings": self.settings,
                "repository": repository,
                "unique_tag": tags.unique[0] if tags.unique else "",
                "tags": dataclasses.asdict(tags),
                "created": now.isoformat(),
                "lease": _lease(request),
                **more,
            },
        )
        self._launch(build_dir)
        log.info("local build %s started for task %s", handle, request.task_id)
        return handle

    def _check_request(self, request: BuildRequest, platforms: list[str]) -> None:
        host = host_arch()
        for arch in platforms:
            if not bh.can_run_arch(arch):
                raise BackendError(
                    f"This machine ({host}) cannot build for {arch}: it has no emulation "
                    f"for it; for a scratch or isolated build, set option "
                    f"{option_name('arch_override')} to {host}."
                )
        if not request.source_dir or not os.path.isdir(request.source_dir):
            raise BackendError("The local backend needs the checked-out source directory.")
        try:
            # buildah opens the Dockerfile and the ignore files on the host
            check_source_files(request.source_dir)
        except SourceFileError as error:
            raise BackendError(str(error)) from None
        problem = repository_problem(request.name or "")
        if problem:
            raise BackendError(f"The image name {problem}; set the Dockerfile's name label.")

    def _launch(self, build_dir: str) -> None:
        """Start the detached runner: forked from this process, not a new interpreter.

        A new Python would spend a third of a second importing what this
        process has loaded already; the child detaches at once (own session,
        no inherited descriptors or signal handlers) and forks the runner.
        """
        pid = os.fork()
        if pid == 0:
            local_runner.start_detached(build_dir)  # never returns
        _, wait_status = os.waitpid(pid, 0)
        status = os.waitstatus_to_exitcode(wait_status)
        if status != 0 or not os.path.exists(os.path.join(build_dir, bh.RUNNER_FILE)):
            raise BackendError(
                f"The local build runner did not start (status {status}); "
                f"see {build_dir}/runner.err."
            )

    def logs(self, handle: str) -> Iterator[LogLine]:
        path = self._path(handle, bh.LOG_FILE)
        while not os.path.exists(path):
            if self._finished(handle):
                return
            time.sleep(_POLL)
        pending = b""
        with open(path, "rb") as stream:
            while True:
                chunk = stream.read(1024 * 1024)
                if not chunk:
                    if not self._finished(handle):
                        time.sleep(_POLL)
                        continue
                    # what the runner wrote between the last read and its end
                    chunk = stream.read()
                    if not chunk:
                        break
                *records, pending = (pending + chunk).split(b"\n")
                for record in records:
                    yield _parse_record(record)
        if pending:
            yield _parse_record(pending)

    def wait(self, handle: str) -> BuildResult:
        if not self.lookup(handle):
            raise BackendError(f"There is no local build {handle!r} in {self.state_dir}.")
        while True:
            status = self._status(handle)
            if status is None and self._runner_pids(handle) is None:
                status = self._status(handle) or self._lost_runner_status(handle)
            if status is not None:
                return _result(status, handle)
            time.sleep(_POLL)

    def _lost_runner_status(self, handle: str) -> dict[str, Any]:
        if os.path.exists(self._path(handle, bh.CANCEL_FILE)):
            return {"outcome": "cancelled", "reason": "The build was cancelled."}
        return {
            "outcome": "failed",
            "reason": "The local build runner stopped without a result; see the build log.",
        }

    def cancel(self, handle: str) -> None:
        """Stop the build and withdraw its pushes, also when it already finished.

        The task calls this only for a build it will not import (cancelled or
        failed task), so a finished build's tags go too: nothing records them.
        The runner's own processes are stopped, not the runner: it withdraws
        its pushes itself, so a task process killed in the middle of this
        (kojid's SIGKILL after a slow cancel) cannot leave tags behind.
        """
        if not self.lookup(handle):
            return
        with open(self._path(handle, bh.CANCEL_FILE), "w", encoding="ascii") as marker:
            marker.write(datetime.datetime.now(datetime.timezone.utc).isoformat())
        pids = self._runner_pids(handle)
        if pids is not None and stop_runner(*pids):
            log.info("local build %s cancelled; its runner ended", handle)
        # Withdraw here too: a runner can end on its own (released, lease over)
        # just before it sees the marker, and withdrawing what is already gone
        # deletes nothing.
        spec = bh.read_json(self._path(handle, bh.BUILD_FILE))
        failures = registry.withdraw_pushes(self.build_dir(handle), spec["settings"])
        for failure in failures:
            log.warning("could not withdraw a cancelled push: %s", failure)
        if self._status(handle) is None:
            bh.write_json(
                self._path(handle, bh.STATUS_FILE),
                {"outcome": "cancelled", "reason": "The build was cancelled.",
                 "build_name": handle},
            )  # fmt: skip
        log.info("local build %s cancelled", handle)

    def cleanup(self, handle: str) -> None:
        """Drop the archives and local images; keep the status and log for re-runs."""
        if not self.lookup(handle):
            return
        with open(self._path(handle, bh.RELEASED_FILE), "w", encoding="ascii") as marker:
            marker.write("released\n")  # a lingering runner may exit now
        spec = bh.read_json(self._path(handle, bh.BUILD_FILE))
        # one buildah process for them all: it removes each image it finds
        # (a failed build may have made none) and names the others in its error
        bh.run(bh.buildah_cmd(spec["settings"], "rmi", *bh.local_refs(handle, spec)))
        shutil.rmtree(self._path(handle, bh.WORK_DIR), ignore_errors=True)

    def lookup(self, handle: str) -> bool:
        return bh.valid_handle(handle) and os.path.isfile(self._path(handle, bh.BUILD_FILE))


def _lease(request: BuildRequest) -> dict[str, Any] | None:
    """What the runner needs to follow its task (:mod:`.local_lease`); None: no hub known."""
    if not request.hub_url:
        return None
    nvr = None
    if not request.scratch and request.version and request.release:
        nvr = f"{request.component}-{request.version}-{request.release}"
    return {
        "hub_url": request.hub_url,
        "task_id": request.task_id,
        "nvr": nvr,
        "parent_task_id": request.parent_task_id,
    }


def _parse_record(record: bytes) -> LogLine:
    platform, _, line = record.partition(b"\t")
    name = platform.decode("ascii", "replace")
    try:
        text: str | bytes = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line
    return (None if name == bh.NO_PLATFORM else name), text


def _result(status: dict[str, Any], handle: str) -> BuildResult:
    fields = {f.name for f in dataclasses.fields(ImageOutput)}
    images = [
        ImageOutput(**{k: v for k, v in i.items() if k in fields})
        for i in status.get("images", [])
    ]
    return BuildResult(
        outcome=Outcome(status["outcome"]),
        reason=status.get("reason", ""),
        repositories=list(status.get("repositories", [])),
        platforms=list(status.get("platforms", [])),
        images=images,
        build_name=status.get("build_name") or handle,
        extra=dict(status.get("extra", {})),
    )
