"""What a container build task carries from step to step on the builder.

Kept below both :mod:`koji_containerbuild.builder.flow` (which prepares a
build) and :mod:`koji_containerbuild.builder.run` (which drives it), so
neither imports the other for its types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import koji

from koji_containerbuild.backends.base import BuildRequest


@dataclass
class TaskContext:
    """What the task flow needs from the kojid task handler."""

    task_id: int
    session: Any
    #: kojid's options: allowed_scms*, topdir, workdir, ...
    options: Any
    #: Local scratch space of this task (wiped by kojid).
    workdir: str
    #: Task output path on the hub (BaseTaskHandler.getUploadDir()).
    upload_dir: str
    #: BaseTaskHandler.run_callbacks, for kojid's pre/postSCMCheckout hooks.
    run_callbacks: Callable[..., Any] | None = None
    #: BaseTaskHandler.wait, for a parent waiting on its arch subtasks.
    wait: Callable[..., Any] | None = None

    @property
    def hub_work_dir(self) -> str:
        return koji.PathInfo(topdir=getattr(self.options, "topdir", None)).work()


@dataclass
class PreparedBuild:
    """A build request that passed every check that does not need the backend."""

    request: BuildRequest
    #: SCM URL of a binary build (None for source container builds).
    source_url: str | None
    #: Whether name-version-release is known before the build starts.
    nvr_known: bool
    #: koji_parent_build NVR still to resolve into request.parent_image.
    parent_build: str | None = None
    #: Source container builds: the release of the image build they package.
    source_release: str | None = None
    #: The target's destination tag (id, name): where an imported build is tagged.
    dest_tag: tuple[int, str] | None = None
