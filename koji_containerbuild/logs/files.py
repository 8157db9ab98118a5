"""The task's log files: each line to the build log and to its platform's log.

Lines arrive in batches of ``(key, line)`` columns; a :class:`Router` maps
each key to its platform's file. Ordinary str lines are encoded with a few
C-level joins per batch; bytes (not UTF-8), lines with lone surrogates and
very long lines go one at a time. User warnings and the ``_metadata_`` path
are picked out of the lines here, on lines whose origin may carry them (the
router's ``marks_of``; see loglines.py for the rules).
"""

from __future__ import annotations

import logging
import operator
import os
import re
from itertools import compress, repeat
from typing import Any, Callable

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.base import REMOTE_SOURCES
from koji_containerbuild.logs.lines import (
    METADATA_MARK,
    NO_MARKS,
    USER_WARNING_MARK,
    Marks,
    encode,
    metadata_path,
    safe_work_path,
    user_warning,
)
from koji_containerbuild.logs.uploads import LiveUploader, UploadedFile

logger = logging.getLogger(f"{LOGGER_NAME}.logs")

BUILD_LOG = "osbs-build.log"
USER_WARNINGS_LOG = "user_warnings.log"
#: Platform names that look like arches get their own ``<platform>.log``.
PLATFORM_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
#: Batches larger than this are written line by line (no joined copy of long lines).
_BIG_BATCH = 4 * 1024 * 1024


def _own_log(platform: str | None) -> bool:
    """Whether the platform's lines also get a file of their own.

    A platform name comes from the build service; one that does not look
    like an arch (path separators, odd characters) or that names a log the
    plugin writes itself (``user_warnings``) goes to the build log only.
    """
    if platform == REMOTE_SOURCES:
        return True
    if not isinstance(platform, str) or not PLATFORM_RE.fullmatch(platform):
        return False
    return f"{platform}.log" not in (BUILD_LOG, USER_WARNINGS_LOG)


class Router(dict):
    """Key of a queued line -> its platform's log file (None: the build log only).

    ``marks_of(key)`` says which build-system markers lines of that key may
    carry; without it (keys that are plain platforms) no line carries any.
    """

    def __init__(
        self,
        files: LogFiles,
        platform_of: Callable[[Any], str | None] | None,
        marks_of: Callable[[Any], Marks] | None = None,
    ):
        super().__init__()
        self._files = files
        self._platform_of = platform_of
        self._marks_of = marks_of
        self._marks: dict[Any, Marks] = {}

    def __missing__(self, key: Any) -> UploadedFile | None:
        platform = key if self._platform_of is None else self._platform_of(key)
        target = self[key] = self._files.target_for(platform)
        return target

    def marks(self, key: Any) -> Marks:
        try:
            return self._marks[key]
        except KeyError:
            marks = self._marks[key] = NO_MARKS if self._marks_of is None else self._marks_of(key)
            return marks


class LogFiles:
    """The files of one task's log; used under the uploader's flush_lock only."""

    def __init__(self, uploader: LiveUploader, local_dir: str, work_dir: str):
        self._uploader = uploader
        self.local_dir = local_dir
        self.work_dir = work_dir
        self.user_warnings: list[str] = []
        self.metadata_file: str | None = None
        #: platform -> its log file (None: the line goes to the build log only)
        self._targets: dict[str | None, UploadedFile | None] = {None: None}
        self.build_log = self._open(BUILD_LOG)
        self._warnings_log: UploadedFile | None = None

    def router(
        self,
        platform_of: Callable[[Any], str | None] | None,
        marks_of: Callable[[Any], Marks] | None = None,
    ) -> Router:
        return Router(self, platform_of, marks_of)

    def write_lines(self, router: Router, keys: list, lines: list) -> int:
        """Queue the lines' bytes for their files; returns the bytes added to the build log."""
        nbytes = self._joined(router, keys, lines)
        if nbytes is None:
            nbytes = 0
            for key, line in zip(keys, lines):
                nbytes += self._line(router, key, line)
        return nbytes

    def _joined(self, router: Router, keys: list, lines: list) -> int | None:
        """Ordinary str lines in a few C-level passes; None to go line by line."""
        try:
            text = "\n".join(lines)
        except TypeError:  # a bytes line among them
            return None
        if len(text) > _BIG_BATCH:
            # long lines: encoded one at a time, never a joined copy of them
            return None
        try:
            blob = text.encode("utf-8")
        except UnicodeEncodeError:  # surrogates
            return None
        if METADATA_MARK in text or USER_WARNING_MARK in text:
            for key, line in zip(keys, lines):
                self._inspect(router.marks(key), line)
        del text
        nbytes = len(blob) + 1
        self.build_log.append([blob, b"\n"], nbytes)
        targets = list(map(router.__getitem__, keys))
        distinct = set(targets)
        if len(distinct) == 1:
            target = targets[0]
            if target is not None:
                target.append([blob, b"\n"], nbytes)
            return nbytes
        distinct.discard(None)
        for target in distinct:
            part = "\n".join(compress(lines, map(operator.is_, targets, repeat(target))))
            data = part.encode("utf-8")
            target.append([data, b"\n"], len(data) + 1)
        return nbytes

    def _line(self, router: Router, key: Any, line: str | bytes) -> int:
        target = router[key]
        if isinstance(line, str):
            self._inspect(router.marks(key), line)
            data = encode(line)
        else:
            data = bytes(line)
        pieces = [data, b"\n"]
        self.build_log.append(pieces, len(data) + 1)
        if target is not None:
            target.append(pieces, len(data) + 1)
        return len(data) + 1

    def _inspect(self, marks: Marks, line: str) -> None:
        if marks.metadata and METADATA_MARK in line:
            self._check_metadata(line)
        if marks.user_warnings and USER_WARNING_MARK in line:
            self._add_warning(user_warning(line))

    def _open(self, name: str) -> UploadedFile:
        return self._uploader.add(os.path.join(self.local_dir, name), name)

    def target_for(self, platform: str | None) -> UploadedFile | None:
        try:
            return self._targets[platform]
        except KeyError:
            pass
        target = None
        if _own_log(platform):
            target = self._open(f"{platform}.log")
        self._targets[platform] = target
        return target

    def _add_warning(self, warning: str | None) -> None:
        if warning is None or warning in self.user_warnings:
            return
        self.user_warnings.append(warning)
        if self._warnings_log is None:
            self._warnings_log = self._open(USER_WARNINGS_LOG)
        data = encode(warning)
        self._warnings_log.append([data, b"\n"], len(data) + 1)

    def _check_metadata(self, text: str) -> None:
        relpath = metadata_path(text)
        if relpath is None:
            return
        path = safe_work_path(self.work_dir, relpath)
        if path is None:
            logger.warning("Ignoring _metadata_ path outside the work dir: %r", relpath)
        elif self.metadata_file is None:
            self.metadata_file = path
