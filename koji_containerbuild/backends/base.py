"""The interface every build backend implements.

The builder plugin drives a backend through these calls only, so the OSBS
backend (many machines) and the local buildah backend (one machine) are
interchangeable behind the same task flow: start, stream logs, wait, report,
cancel, clean up, and find a build again after kojid restarts a task.
"""

from __future__ import annotations

import abc
import enum
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Union

#: Log "platform" for lines of the remote-sources (cachito/hermeto) step.
REMOTE_SOURCES = "remote-sources"


#: Kinds of build a backend may offer (see :func:`unsupported_request`).
BUILD_KINDS = ("container", "flatpak", "source")
#: The backend that builds every kind and honours every option.
FULL_BACKEND = "osbs"
#: What the options a backend may lack need, for the refusal sentence.
OPTION_NEEDS = {
    "compose_ids": "ODCS",
    "signing_intent": "ODCS",
    "dependency_replacements": "Cachito",
    "operator_csv_modifications_url": "OSBS's operator manifest support",
}
_KIND_NAMES = {
    "container": "container images",
    "flatpak": "flatpaks",
    "source": "source container images",
}


class BackendError(Exception):
    """A backend could not do what was asked; the message is for the task owner."""


class TransientBackendError(BackendError):
    """A fault worth retrying (network error, HTTP 5xx)."""


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BuildRequest:
    """Everything a backend needs to start one build.

    ``kind`` is ``"binary"`` or ``"source"``. ``opts`` holds the task options
    already normalised by :mod:`koji_containerbuild.options`; backends pass
    through the ones they understand.
    """

    kind: str
    task_id: int
    owner: str
    target: str
    component: str
    platforms: list[str]
    scratch: bool = False
    isolated: bool = False
    flatpak: bool = False
    git_uri: str | None = None
    git_ref: str | None = None
    git_branch: str | None = None
    #: Local checkout of the source (backends that build on this machine).
    source_dir: str | None = None
    #: Dockerfile path inside ``source_dir``.
    dockerfile: str | None = None
    #: Image name, version and release from the Dockerfile labels and opts.
    name: str | None = None
    version: str | None = None
    release: str | None = None
    #: Tags listed in the source's additional-tags file; which tags a build
    #: really gets is decided by :mod:`koji_containerbuild.image.imagetags`.
    additional_tags: list[str] = field(default_factory=list)
    #: Pull spec of the parent image resolved from opts.koji_parent_build.
    parent_image: str | None = None
    #: Source container builds: the Koji build whose sources are packaged.
    source_build_id: int | None = None
    source_build_nvr: str | None = None
    opts: dict[str, Any] = field(default_factory=dict)
    #: XML-RPC URL of the hub holding the task: a build that outlives the task
    #: process reads the task state there (:mod:`koji_containerbuild.lease`).
    hub_url: str | None = None
    #: One arch of a multi-arch build: push the image by digest only, no tag
    #: (the parent task tags the manifest list once every arch is built).
    push_by_digest: bool = False
    #: The parent task of an arch subtask: its build also ends once the parent did.
    parent_task_id: int | None = None


@dataclass
class ImageOutput:
    """One built image per arch, for builds the plugin imports itself (CG)."""

    arch: str
    image_id: str
    #: Local file with the image archive to upload as the CG output.
    archive_path: str
    parent_id: str | None = None
    digests: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    layer_sizes: list[dict[str, Any]] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: RPM components of the image in CG component form (empty without an rpmdb).
    components: list[dict[str, Any]] = field(default_factory=list)
    #: Tools used to build it, as CG ``{"name", "version"}`` dicts.
    tools: list[dict[str, str]] = field(default_factory=list)
    #: RPMs of the host that built it (its buildroot), in CG component form.
    buildroot_components: list[dict[str, Any]] = field(default_factory=list)
    #: CG ``host`` of its buildroot ({"os", "arch"}); empty: the importing machine.
    host: dict[str, str] = field(default_factory=dict)
    #: The archive already uploaded by the arch subtask that built it, under the
    #: import directory: {"relpath", "filename", "filesize", "checksum"}; empty:
    #: ``archive_path`` is a local file the importer uploads.
    uploaded: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    """What a finished build produced, whatever the backend."""

    outcome: Outcome
    #: Why it failed, one sentence for the owner (empty on success). It does not
    #: name the build: the task flow names it once, with ``build_name``.
    reason: str = ""
    #: Pull specs: primary, unique and floating repositories.
    repositories: list[str] = field(default_factory=list)
    #: Set when the backend imported the build into Koji itself (OSBS).
    koji_build_id: int | None = None
    #: Platforms that were really built.
    platforms: list[str] = field(default_factory=list)
    #: Set by backends whose builds the plugin imports (the local backend).
    images: list[ImageOutput] = field(default_factory=list)
    #: Backend-specific name of the build, for messages (OSBS build name).
    build_name: str = ""
    #: Anything else worth returning to the task owner.
    extra: dict[str, Any] = field(default_factory=dict)


LogLine = tuple[Optional[str], Union[str, bytes]]


class LogFeed(Protocol):
    """A build's logs handed over as whole line iterators (see BuildBackend.log_feed).

    :func:`koji_containerbuild.logs.stream.stream_build_logs` drives it: it drains
    each iterator ``streams()`` yields, of ``(key, line)`` items, and sends
    back the exception that ended it (None if it just ended), so the feed
    decides whether to resume, fall back or give up. It counts the lines
    taken per key in ``delivered``. An optional ``marks_of(key)`` names the
    build-system markers (loglines.Marks) the lines of a key may carry.
    """

    delivered: Counter

    def streams(self) -> Generator[Iterator[tuple[Any, str | bytes]], Any, None]: ...

    def platform_of(self, key: Any) -> str | None: ...


class BuildBackend(abc.ABC):
    """A place that builds container images.

    A *handle* is a short string naming one build; it is recorded in the task
    output right after :meth:`start` so that a re-run of the same task can
    :meth:`lookup` the build and follow it instead of starting another one.

    A backend hands out its logs in one of two ways: :meth:`logs`, one
    ``(platform, line)`` at a time (the local backend), or :meth:`log_feed`,
    whole line iterators (the OSBS one, whose logs arrive in large bursts);
    :func:`koji_containerbuild.logs.stream.stream_build_logs` reads the feed when
    there is one. Only a feed can declare (``marks_of``) which of its log
    sources are the build system's own and may carry USER_WARNING and
    ``_metadata_`` lines; lines from :meth:`logs` are the build's output
    and never carry them.
    """

    #: Configuration name of the backend (``osbs``, ``local``).
    name: str = ""
    #: True when the backend imports non-scratch builds into Koji itself.
    imports_builds: bool = False
    #: True when the backend takes ``opts["koji_parent_build"]`` itself (OSBS);
    #: otherwise the plugin resolves it into ``BuildRequest.parent_image``.
    resolves_parent_builds: bool = False
    #: Kinds of build it can do (of :data:`BUILD_KINDS`).
    supported_kinds: frozenset[str] = frozenset(BUILD_KINDS)
    #: Task options it honours; None: every option. Others are refused up front.
    supported_options: frozenset[str] | None = None
    #: True when a build for other arches than this host's runs as one Koji
    #: subtask per arch (builders of each arch), joined by :meth:`start_image_list`;
    #: False when the backend builds every arch itself (OSBS).
    arch_subtasks: bool = False

    def start_image_list(self, request: BuildRequest, images: list[ImageOutput]) -> str:
        """Start joining per-arch images (pushed by digest) into one tagged manifest list."""
        raise BackendError(f"The {self.name} backend does not build per-arch subtasks.")

    def withdraw_images(self, images: list[ImageOutput]) -> None:
        """Delete per-arch images pushed by digest that no image list took over."""
        return None  # a backend without arch subtasks pushed none

    @abc.abstractmethod
    def start(self, request: BuildRequest) -> str:
        """Start a build and return its handle without waiting for it."""

    def log_feed(self, handle: str) -> LogFeed | None:
        """The build's logs as a :class:`LogFeed`, or None: read :meth:`logs` instead."""
        return None

    def logs(self, handle: str) -> Iterator[LogLine]:
        """Yield ``(platform, line)`` until the build's logs end (backends without a feed).

        ``platform`` is an arch (``x86_64``), :data:`REMOTE_SOURCES`, or None
        for lines that belong to no platform. Lines carry no newline; a line
        that is not valid UTF-8 comes as ``bytes``.
        """
        raise NotImplementedError(f"The {self.name} backend hands out its logs by log_feed().")

    @abc.abstractmethod
    def wait(self, handle: str) -> BuildResult:
        """Block until the build finished and report what it produced."""

    @abc.abstractmethod
    def cancel(self, handle: str) -> None:
        """Stop the build; safe to call on a build that already ended."""

    @abc.abstractmethod
    def cleanup(self, handle: str) -> None:
        """Release what the finished build holds (as configured)."""

    @abc.abstractmethod
    def lookup(self, handle: str) -> bool:
        """Whether the backend still knows the build named by ``handle``."""

    def reattach(self, handle: str, request: BuildRequest) -> bool:
        """Follow a build an earlier run of the task started for ``request``.

        The handle comes from the task's re-attach record, written by another
        process; the request says for sure what kind of build it is, which a
        backend may need to reach the build again (OSBS keeps binary and
        source builds in separate configuration sections). False when the
        backend no longer knows the build.
        """
        return self.lookup(handle)


def request_kind(request: BuildRequest) -> str:
    """``container``, ``flatpak`` or ``source``: what the task asks to build."""
    if request.kind == "source":
        return "source"
    return "flatpak" if request.flatpak else "container"


def unsupported_request(backend: BuildBackend, request: BuildRequest) -> str | None:
    """The sentence refusing a request the backend cannot honour, or None.

    Checked before anything is reserved or built, so a build kind or an
    option the backend lacks never ends in a late, misleading failure or a
    build that silently ignores what was asked.
    """
    kind = request_kind(request)
    if kind not in backend.supported_kinds:
        return (
            f"The {backend.name} backend of this builder cannot build {_KIND_NAMES[kind]}; "
            f"only the {FULL_BACKEND} backend builds them, so ask the Koji admins for "
            f"builders that use it."
        )
    if backend.supported_options is None:
        return None
    refused = sorted(
        name for name, value in request.opts.items()
        if name not in backend.supported_options and value not in (None, False, "", [], {})
    )  # fmt: skip
    if not refused:
        return None
    described = ", ".join(
        f"{name} (needs {OPTION_NEEDS[name]})" if name in OPTION_NEEDS else name
        for name in refused
    )
    return (
        f"The {backend.name} backend of this builder does not support {described}; drop "
        f"{'it' if len(refused) == 1 else 'them'} or build on a builder with the "
        f"{FULL_BACKEND} backend."
    )
