"""What the builder reads from a Dockerfile, with every parse failure one sentence.

dockerfile-parse raises IndexError, ValueError or UnicodeDecodeError (and
perhaps others) on garbage such as a bare ``LABEL`` line or ``ENV a=1 b``,
and it parses lazily, on attribute access. The labels and the base image are
therefore read here, at once, from bytes read safely out of the checkout, so
no caller ever sees a traceback for a broken Dockerfile.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from dockerfile_parse import DockerfileParser

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.image.sourcefiles import read_source_file

logger = logging.getLogger(LOGGER_NAME + ".dockerfile")

DOCKERFILE = "Dockerfile"
#: Longest parser message quoted in the sentence.
_MAX_DETAIL = 200


class DockerfileError(ValueError):
    """The Dockerfile cannot be parsed; the message is one sentence for its owner."""


@dataclass(frozen=True)
class DockerfileFacts:
    """The parts of a Dockerfile the builder uses."""

    labels: dict[str, str]
    #: Image of the last FROM (None when there is none).
    baseimage: str | None


def parse_dockerfile(content: bytes) -> DockerfileFacts:
    """Labels and base image of a Dockerfile's bytes; DockerfileError if they cannot be read."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DockerfileError(
            f"The Dockerfile is not UTF-8 text (invalid byte at offset {error.start}); "
            "save it as UTF-8."
        ) from None
    try:
        parser = DockerfileParser(fileobj=io.BytesIO(content), cache_content=True)
        labels = {str(key): str(value) for key, value in parser.labels.items()}
        baseimage = parser.baseimage
    except Exception as error:  # any parser failure on untrusted input is the file's fault
        logger.debug("dockerfile-parse failed", exc_info=True)
        detail = " ".join(str(error).split())[:_MAX_DETAIL]
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        raise DockerfileError(
            f"The Dockerfile cannot be parsed ({reason}); check that every instruction "
            "(FROM, LABEL, ENV, ARG) is complete, with name=value pairs and closed quotes."
        ) from None
    return DockerfileFacts(labels=labels, baseimage=baseimage or None)


def read_dockerfile(checkout_dir: str, name: str = DOCKERFILE) -> DockerfileFacts | None:
    """Parse ``name`` of the checkout (None when absent).

    Raises SourceFileError when the file leads outside the checkout (see
    :mod:`koji_containerbuild.image.sourcefiles`) and DockerfileError when it
    cannot be parsed.
    """
    content = read_source_file(checkout_dir, name)
    if content is None:
        return None
    return parse_dockerfile(content)
