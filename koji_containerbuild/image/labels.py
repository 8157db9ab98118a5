"""Image identity from a Dockerfile: component, name, version, release, tags.

The builder refuses a build before anything is started when the Dockerfile
cannot name the Koji build it would produce, so these rules live here, apart
from the task flow, and are tested on plain files.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from koji_containerbuild import LOGGER_NAME, nvr
from koji_containerbuild.image.dockerfile import DockerfileError, read_dockerfile
from koji_containerbuild.image.sourcefiles import SourceFileError, read_source_file
from koji_containerbuild.optnames import option_name

logger = logging.getLogger(LOGGER_NAME + ".labels")

#: The registry refuses tags longer than this.
MAX_TAG_LENGTH = nvr.MAX_TAG_LENGTH

#: Label names, preferred first; the others are accepted for older Dockerfiles.
COMPONENT_LABELS = ("com.redhat.component", "BZComponent")
NAME_LABELS = ("name", "Name")
VERSION_LABELS = ("version", "Version")
RELEASE_LABELS = ("release", "Release")

#: File next to the Dockerfile listing extra tags, one per line.
ADDITIONAL_TAGS_FILE = "additional-tags"

#: A registry repository name (distribution's reference grammar, lower case).
REPOSITORY_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
#: A Koji package name the hub keeps as one directory (RegexNameInternal, no '/').
COMPONENT_RE = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_.+-]*")
#: Longest component and image name (kojihub's MaxNameLengthInternal).
NAME_MAX = 256

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]*$")


class LabelError(ValueError):
    """The Dockerfile does not describe the image well enough to build it."""


@dataclass
class ImageLabels:
    """What the Dockerfile says about the image the build will produce."""

    component: str
    name: str
    version: str
    #: None when neither the Dockerfile nor opts.release sets it (OSBS picks one).
    release: str | None
    additional_tags: list[str] = field(default_factory=list)

    @property
    def nvr(self) -> str | None:
        if not self.release:
            return None
        return f"{self.component}-{self.version}-{self.release}"

    @property
    def version_release(self) -> str | None:
        """The primary tag ``<version>-<release>`` (None without a release)."""
        if not self.release:
            return None
        return f"{self.version}-{self.release}"


def _first_label(labels: dict[str, str], names: tuple[str, ...]) -> tuple[bool, str]:
    for name in names:
        if name in labels:
            return True, (labels[name] or "").strip()
    return False, ""


def _describe(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{names[0]} (or {' or '.join(names[1:])})"


def read_additional_tags(source_dir: str) -> list[str]:
    """Tags listed in ``additional-tags``; tags with '-' are skipped.

    A '-' would let a tag collide with a version-release tag of another
    build, so such lines are ignored with a log message, like invalid ones.
    """
    try:
        content = read_source_file(source_dir, ADDITIONAL_TAGS_FILE)
    except SourceFileError as error:
        raise LabelError(str(error)) from None
    if content is None:
        return []
    lines = content.decode("utf-8", errors="replace").splitlines()
    tags: list[str] = []
    for raw in lines:
        tag = raw.strip()
        if not tag or tag.startswith("#"):
            continue
        if "-" in tag or not _TAG_RE.match(tag):
            logger.warning(
                "Ignoring additional tag %r: tags may use letters, digits, _ and .", tag
            )
            continue
        if tag not in tags:
            tags.append(tag)
    return tags


def read_image_labels(dockerfile_path: str, release_override: str | None = None) -> ImageLabels:
    """Read component, name, version and release from the Dockerfile's labels.

    component and name must be set explicitly; version may take its value
    from an ENV variable (dockerfile-parse substitutes it); release comes from
    ``release_override`` (opts.release) or the label and may be absent.
    """
    source_dir, dockerfile_name = os.path.split(os.path.abspath(dockerfile_path))
    try:
        facts = read_dockerfile(source_dir, dockerfile_name)
    except (DockerfileError, SourceFileError) as error:
        raise LabelError(str(error)) from None
    if facts is None:
        raise LabelError(f"There is no {dockerfile_name} in the repository; add one.")
    labels = facts.labels

    missing = []
    _, component = _first_label(labels, COMPONENT_LABELS)
    if not component:
        missing.append(_describe(COMPONENT_LABELS))
    _, name = _first_label(labels, NAME_LABELS)
    if not name:
        missing.append(_describe(NAME_LABELS))
    _, version = _first_label(labels, VERSION_LABELS)
    if not version:
        missing.append(_describe(VERSION_LABELS))
    if missing:
        raise LabelError(
            "The Dockerfile lacks required LABELs: "
            + ", ".join(missing)
            + "; add them with non-empty values (version may use an ENV variable)."
        )

    _check_identity(component, name)
    if release_override:
        release: str | None = release_override
    else:
        _, label_release = _first_label(labels, RELEASE_LABELS)
        release = label_release or None
    _check_value("version", version, "label")
    if release is not None:
        _check_value("release", release, "option" if release_override else "label")
        problem = nvr.version_release_problem(version, release)
        if problem:
            raise LabelError(f"The image's version-release tag {problem}.")

    image = ImageLabels(
        component=component,
        name=name,
        version=version,
        release=release,
        additional_tags=read_additional_tags(source_dir),
    )
    check_tag_lengths(image)
    return image


def repository_problem(name: str) -> str | None:
    """Why ``name`` cannot name an image repository in a registry, or None."""
    if len(name) <= NAME_MAX and REPOSITORY_RE.fullmatch(name):
        return None
    return (
        f"{nvr.show_value(name)} is not a registry repository name: use lower-case letters, "
        "digits and '.', '_', '-' between them, with '/' between path parts"
    )


def _check_identity(component: str, name: str) -> None:
    """Refuse a component Koji cannot hold as a package or a name no registry takes."""
    if len(component) > NAME_MAX or not COMPONENT_RE.fullmatch(component):
        raise LabelError(
            f"The Dockerfile's com.redhat.component label {nvr.show_value(component)} is not a "
            "Koji package name: use letters, digits and '_', '.', '+', '-' (not first), "
            f"at most {NAME_MAX} characters."
        )
    problem = repository_problem(name)
    if problem:
        raise LabelError(f"The Dockerfile's name label {problem}.")


def _check_value(what: str, value: str, origin: str) -> None:
    """Refuse a version or release Koji, the hub or the registry would refuse (nvr.py)."""
    problem = nvr.value_problem(value)
    if problem:
        if origin == "option":
            named = f"Option {option_name(what)}"
        else:
            named = f"The Dockerfile's {what} label"
        raise LabelError(f"{named} {nvr.show_value(value)} {problem}.")


def check_tag_lengths(image: ImageLabels) -> None:
    """Refuse additional tags longer than the registry accepts."""
    for tag in image.additional_tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise LabelError(
                f"The additional tag {tag[:40]!r}... is {len(tag)} characters long but tags may "
                f"have at most {MAX_TAG_LENGTH}; shorten it in {ADDITIONAL_TAGS_FILE}."
            )
