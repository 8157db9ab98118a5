"""Files read from a source checkout: inside the checkout, regular, bounded.

The repository is untrusted: ``additional-tags`` as a symlink to a host file
would turn that file's words into pushed tags, and a symlinked Dockerfile
would be built from the host's file. Everything the builder (or a build tool
on the host) reads from a checkout goes through :func:`source_file_path` or
:func:`read_source_file`, and :func:`check_source_files` refuses a checkout
whose well-known files lead elsewhere before anything is built.

buildah itself resolves COPY/ADD sources inside the build context (a symlink
pointing out is not followed out of it), but it opens the Dockerfile given
with ``-f`` and the context's ``.dockerignore``/``.containerignore`` on the
host, so those are checked here too.
"""

from __future__ import annotations

import os
import stat

#: Largest source file read (the Dockerfile, additional-tags, ...).
MAX_SOURCE_FILE_BYTES = 1024 * 1024

#: Files at the top of a checkout that the builder, buildah or OSBS read.
SOURCE_FILES = (
    "Dockerfile",
    "additional-tags",
    "container.yaml",
    "content_sets.yml",
    ".dockerignore",
    ".containerignore",
)


class SourceFileError(ValueError):
    """A source file cannot be used; the message is one sentence naming it."""


def _inside(root: str, path: str) -> bool:
    return path != root and os.path.commonpath([root, path]) == root


def source_file_path(
    checkout_dir: str, name: str, limit: int = MAX_SOURCE_FILE_BYTES
) -> str | None:
    """The real path of ``name`` in the checkout, or None when there is no such file.

    Raises SourceFileError when it resolves outside the checkout, is not a
    regular file, or is larger than ``limit`` bytes.
    """
    if os.path.isabs(name) or ".." in name.split("/"):
        raise ValueError(f"source file names are relative to the checkout: {name!r}")
    root = os.path.realpath(checkout_dir)
    given = os.path.join(root, name)
    if not os.path.lexists(given):
        return None
    real = os.path.realpath(given)
    if not _inside(root, real):
        raise SourceFileError(
            f"The source file {name!r} is a symlink that leads outside the repository; "
            "replace it with a regular file (or a link to a file inside the repository)."
        )
    try:
        info = os.stat(real)
    except OSError:
        raise SourceFileError(
            f"The source file {name!r} is a symlink to a file that does not exist; "
            "replace it with a regular file."
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise SourceFileError(
            f"The source file {name!r} is not a regular file; make it a regular file "
            "(or remove it)."
        )
    if info.st_size > limit:
        raise SourceFileError(
            f"The source file {name!r} has {info.st_size} bytes but may have at most "
            f"{limit}; shorten it."
        )
    return real


def read_source_file(
    checkout_dir: str, name: str, limit: int = MAX_SOURCE_FILE_BYTES
) -> bytes | None:
    """The bytes of ``name`` in the checkout (None when absent); see :func:`source_file_path`."""
    path = source_file_path(checkout_dir, name, limit)
    if path is None:
        return None
    # the path is resolved already: a symlink swapped in now is refused, not followed
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SourceFileError(f"The source file {name!r} is not a regular file.")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SourceFileError(f"The source file {name!r} has more than {limit} bytes; shorten it.")
    return data


def check_source_files(checkout_dir: str, names: tuple[str, ...] = SOURCE_FILES) -> None:
    """Refuse a checkout whose well-known files lead outside it or are not files."""
    for name in names:
        source_file_path(checkout_dir, name)
