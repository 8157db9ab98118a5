"""Pushing a local build's images: by digest, as a manifest list, and its tags.

Part of the detached runner (:class:`.build.Runner` mixes it in). Every
reference is journaled in ``pushed.json`` BEFORE it is pushed, so a push cut
short by a kill is still withdrawn (:func:`.registry.withdraw_pushes`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Any

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry


class BuildFailed(Exception):
    """The build failed for a reason the owner can read."""


class PushSteps:
    """The push steps; the runner provides settings, repository, tags, journal, log."""

    def save_journal(self) -> None:
        bh.write_json(os.path.join(self.build_dir, bh.PUSHED_FILE), self.journal)

    def push_arch(self, arch: str, local_ref: str) -> str:
        """The first push of one arch's image; its manifest digest.

        An arch of a multi-arch build (push_by_digest) is pushed by digest
        only, the image of a one-arch build under the unique tag, each image
        of a local multi-arch build under the unique tag and its arch.
        """
        if self.request.get("push_by_digest"):
            return self.push_by_digest(arch, local_ref)
        if len(self.request["platforms"]) == 1:
            return self.push_image(arch, local_ref, self.unique_tag)
        return self.push_image(arch, local_ref, f"{self.unique_tag}-{arch}")

    def push_rest(self, images: list[dict[str, Any]]) -> tuple[str, str | None]:
        """After push_arch of each image: the list, then the primary and floating tags.

        The digest the tags point at, and the list's digest (None without a
        list). One arch of a multi-arch build (push_by_digest) gets no tag at all.
        """
        if self.request.get("push_by_digest"):
            return images[0]["digests"][bh.MANIFEST_V2], None
        if len(images) == 1:
            digest = images[0]["digests"][bh.MANIFEST_V2]
            self.push_tags(f"{self.repository}@{digest}", [])
            return digest, None
        list_digest = self.push_list(images)
        self.push_tags(f"{self.repository}@{list_digest}", ["--all"])
        return list_digest, list_digest

    def push_list(self, images: list[dict[str, Any]]) -> str:
        """The manifest list of ``images`` (pushed already), under the unique tag; its digest."""
        tls = bh.tls_flag(self.settings)
        list_name = bh.local_list_ref(self.handle)
        self.checked(self.buildah("manifest", "create", list_name), "Creating the image list")
        for image in images:
            self.checked(
                self.buildah(
                    "manifest",
                    "add",
                    tls,
                    list_name,
                    f"docker://{self.repository}@{image['digests'][bh.MANIFEST_V2]}",
                ),
                "Adding an image to the image list",
            )
        self.journal["unique_tags"].append(self.unique_tag)
        self.save_journal()
        digest_file = os.path.join(self.work, "list.digest")
        self.log.write(None, f"Pushing the image list {self.repository}:{self.unique_tag}")
        self.checked(
            self.buildah(
                "manifest", "push", "--all", "--format", "v2s2", tls, "--digestfile",
                digest_file, list_name, f"docker://{self.repository}:{self.unique_tag}",
            ),
            "Pushing the image list",
        )  # fmt: skip
        with open(digest_file, encoding="ascii") as handle:
            digest = handle.read().strip()
        self.journal["digests"].append(digest)
        self.save_journal()
        return digest

    def push_tags(self, source: str, copy_all: list[str]) -> None:
        """Point every tag but the unique one (pushed already) at ``source``.

        What each tag pointed at before is read and journaled first (see
        withdraw_pushes); the tags are then pushed one after the other:
        docker-distribution answers 500 to reads of a manifest that another
        request writes at the same time.
        """
        tags = [tag for tag in self.tags if tag != self.unique_tag]
        if not tags:
            return
        self.check_cancelled()
        self.hold("push")
        before = [self.registry_digest_of(tag) for tag in tags]
        self.journal["moved_tags"].update(zip(tags, before))
        self.save_journal()
        for tag in tags:
            self.check_cancelled()
            self.log.write(None, f"Tagging {self.repository}:{tag}")
            self.push_tag(source, copy_all, tag)

    def registry_digest_of(self, tag: str) -> str | None:
        return registry.registry_digest(self.settings, f"{self.repository}:{tag}")

    def push_tag(self, source: str, copy_all: list[str], tag: str) -> None:
        repository, _, digest = source.partition("@")
        if repository == self.repository and registry.tag_over_http(
            self.settings, repository, digest, tag
        ):
            return
        self.checked(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                *copy_all,
                bh.tls_flag(self.settings, "--src-tls-verify"),
                bh.tls_flag(self.settings, "--dest-tls-verify"),
                f"docker://{source}",
                f"docker://{self.repository}:{tag}",
            ],
            f"Tagging {tag}",
        )

    def push_by_digest(self, arch: str, local_ref: str) -> str:
        """Push the image under its manifest digest only (no tag); the digest.

        The manifest is written locally first, so its digest is known before
        the push: the journal names it before anything reaches the registry.
        """
        self.check_cancelled()
        layout = os.path.join(self.work, f"{arch}.dir")
        shutil.rmtree(layout, ignore_errors=True)
        self.checked(
            self.buildah("push", "--quiet", "--format", "v2s2", local_ref, f"dir:{layout}"),
            f"Writing the {arch} image manifest",
        )
        with open(os.path.join(layout, "manifest.json"), "rb") as handle:
            digest = "sha256:" + hashlib.sha256(handle.read()).hexdigest()
        self.journal["digests"].append(digest)
        self.save_journal()
        ref = f"{self.repository}@{digest}"
        self.log.write(arch, f"Pushing {ref}")
        self.checked(
            [
                "skopeo", "copy", "--quiet", "--preserve-digests",
                bh.tls_flag(self.settings, "--dest-tls-verify"), f"dir:{layout}", f"docker://{ref}",
            ],
            f"Pushing the {arch} image to {self.repository}",
        )  # fmt: skip
        shutil.rmtree(layout, ignore_errors=True)
        return digest

    def push_image(self, arch: str, local_ref: str, tag: str) -> str:
        self.check_cancelled()
        ref = f"{self.repository}:{tag}"
        self.journal["unique_tags"].append(tag)
        self.save_journal()
        self.log.write(arch, f"Pushing {ref}")
        digest_file = os.path.join(self.work, f"{arch}.digest")
        cmd = self.buildah("push", "--format", "v2s2", bh.tls_flag(self.settings))
        cmd += ["--digestfile", digest_file, local_ref, f"docker://{ref}"]
        status = bh.run_streamed(cmd, lambda line: self.log.write(arch, line))
        if status != 0:
            raise BuildFailed(
                f"Pushing the {arch} image to {self.repository} failed "
                f"(buildah exited with status {status}); check that the registry is up."
            )
        with open(digest_file, encoding="ascii") as handle:
            digest = handle.read().strip()
        self.journal["digests"].append(digest)
        self.save_journal()
        return digest
