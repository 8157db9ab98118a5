"""The last step of a multi-arch build: one manifest list over the per-arch images.

Each arch was built by its own subtask on a builder of that arch and pushed
by digest only; the parent task's local build (:meth:`.backend.LocalBackend.start_image_list`)
runs this in a detached runner like any build: the arch digests go into its
push journal first, so a cancelled or failed list withdraws them with the
list and its tags.
"""

from __future__ import annotations

from typing import Any

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local.build import Runner


class ListRunner(Runner):
    """A runner that builds nothing: it lists, pushes and tags the arch images."""

    def __init__(self, build_dir: str) -> None:
        super().__init__(build_dir)
        spec = bh.read_json(f"{build_dir}/{bh.BUILD_FILE}")
        self.images: list[dict[str, Any]] = [dict(image) for image in spec["images"]]

    def run(self) -> dict[str, Any]:
        for image in self.images:
            self.journal["digests"].append(image["digests"][bh.MANIFEST_V2])
        self.save_journal()
        self.check_cancelled()
        list_digest = self.push_list(self.images)
        self.push_tags(f"{self.repository}@{list_digest}", ["--all"])
        return self.outcome(self.images, list_digest, list_digest)
