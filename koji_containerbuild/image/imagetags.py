"""Which registry tags a build gets: the one rule, by kind of build.

A pull spec recorded in Koji must keep resolving to the image that build
produced, so only a normal build may move tags other builds share. As
atomic-reactor's tag_from_config decides for OSBS builds:

- every build gets its **unique** tag, which no other build uses;
- a scratch build gets nothing else;
- an isolated build also gets its **primary** tag ``<version>-<release>``;
- a normal build gets the primary tag and the **floating** tags ``latest``,
  ``<version>`` and the tags listed in ``additional-tags``.

The local backend pushes exactly :meth:`ImageTags.pushed` (unique first, so a
cut-short push leaves nothing shared behind); OSBS applies the same rule
itself and reports its repositories.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageTags:
    """The tags of one build, by role."""

    unique: list[str]
    primary: list[str] = field(default_factory=list)
    floating: list[str] = field(default_factory=list)

    def pushed(self) -> list[str]:
        """Every tag, unique first, then primary, then floating; each once."""
        tags: list[str] = []
        for tag in (*self.unique, *self.primary, *self.floating):
            if tag not in tags:
                tags.append(tag)
        return tags


def tags_for_build(
    unique_tag: str,
    *,
    scratch: bool,
    isolated: bool,
    version: str | None,
    release: str | None,
    additional_tags: list[str] | tuple[str, ...] = (),
) -> ImageTags:
    """The tags a build of this kind gets (see the module docstring)."""
    if scratch or not (version and release):
        return ImageTags(unique=[unique_tag])
    primary = [f"{version}-{release}"]
    if isolated:
        return ImageTags(unique=[unique_tag], primary=primary)
    floating: list[str] = []
    for tag in ("latest", version, *additional_tags):
        if tag not in floating and tag not in primary and tag != unique_tag:
            floating.append(tag)
    return ImageTags(unique=[unique_tag], primary=primary, floating=floating)
