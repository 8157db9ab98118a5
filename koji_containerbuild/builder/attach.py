"""The re-attach record: which backend build belongs to this Koji task.

kojid wipes a task's local workdir when it restarts and later runs the task
again, maybe on another host; only the task's uploaded output survives. So
right after a build starts, its handle (and any NVR reservation) is uploaded
as ``containerbuild-handle.json``; a re-run reads it back and follows the
existing build instead of starting a second one.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME + ".attach")

RECORD_NAME = "containerbuild-handle.json"


@dataclass
class AttachRecord:
    backend: str
    handle: str
    #: CG reservation of a build the plugin imports itself:
    #: {"build_id", "token", "cg_name", "nvr"}; empty when there is none.
    reservation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data: dict[str, Any] = {"backend": self.backend, "handle": self.handle}
        if self.reservation:
            data["reservation"] = self.reservation
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> AttachRecord | None:
        """Parse a record; None (logged) when it is not one we wrote."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            logger.warning("Ignoring unreadable %s", RECORD_NAME)
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("backend"), str)
            or not isinstance(data.get("handle"), str)
            or not data["handle"]
        ):
            logger.warning("Ignoring %s without backend and handle", RECORD_NAME)
            return None
        reservation = data.get("reservation") or {}
        if not isinstance(reservation, dict):
            reservation = {}
        return cls(backend=data["backend"], handle=data["handle"], reservation=reservation)


def _decode_download(content: Any) -> bytes:
    """ClientSession decodes downloads to bytes; a raw hub answer is base64 text."""
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        stripped = content.strip()
        if stripped.startswith("{"):
            return stripped.encode("utf-8")
        try:
            return base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            return stripped.encode("utf-8")
    return b""


def read_record(session: Any, task_id: int) -> AttachRecord | None:
    """The record a previous run of this task uploaded, or None.

    A task that never started a build has no such output: the hub answers
    with a GenericError fault, which here just means "nothing to follow".
    """
    try:
        content = session.downloadTaskOutput(task_id, RECORD_NAME)
    except koji.GenericError as error:
        logger.debug("No %s for task %s: %s", RECORD_NAME, task_id, error)
        return None
    if not content:
        return None
    return AttachRecord.from_json(_decode_download(content))


def write_record(session: Any, upload_path: str, local_dir: str, record: AttachRecord) -> None:
    """Write the record locally and upload it into the task output."""
    os.makedirs(local_dir, exist_ok=True)
    local_path = os.path.join(local_dir, RECORD_NAME)
    with open(local_path, "w", encoding="utf-8") as handle:
        handle.write(record.to_json())
    session.uploadWrapper(local_path, upload_path, RECORD_NAME, overwrite=True)
