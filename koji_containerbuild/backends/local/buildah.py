"""Shared plumbing of the local backend: buildah/skopeo commands, arches, build dirs.

Both the backend object (in the task process) and the detached runner (its own
process) use these, so a build started by one task process can be followed,
cancelled and cleaned up by another after kojid restarts the task.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import koji

from koji_containerbuild.hostarch import host_arch

#: Koji arch -> (Go/OCI arch, qemu binfmt_misc entry name).
ARCHES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", "qemu-x86_64"),
    "aarch64": ("arm64", "qemu-aarch64"),
    "ppc64le": ("ppc64le", "qemu-ppc64le"),
    "s390x": ("s390x", "qemu-s390x"),
    "i686": ("386", "qemu-i386"),
    "armhfp": ("arm", "qemu-arm"),
}

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"

#: Files of one build directory under ``state_dir``.
BUILD_FILE = "build.json"
RUNNER_FILE = "runner.json"
LOG_FILE = "build.log"
STATUS_FILE = "status.json"
PUSHED_FILE = "pushed.json"
CANCEL_FILE = "cancelled"
#: Written by cleanup(): the task is done with the build (imported or withdrawn).
RELEASED_FILE = "released"
WORK_DIR = "work"

#: Media type of the manifests the local backend pushes (Docker schema 2).
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST_V2 = "application/vnd.docker.distribution.manifest.list.v2+json"

#: Platform name used in the log file for lines of no platform.
NO_PLATFORM = "-"

#: Longest piece of one output line kept whole. A longer line (a RUN step can
#: print hundreds of MB without a newline) is split into pieces of at most
#: this size at a UTF-8 character boundary, so neither the runner nor the
#: task process ever holds more than this of a line: memory stays constant
#: however long the line, and the log keeps every byte (plus a newline per cut).
MAX_LINE_BYTES = 1024 * 1024

_HANDLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def can_run_arch(arch: str, binfmt_dir: str | None = None) -> bool:
    """Whether this machine can run binaries of ``arch`` (natively or via binfmt_misc)."""
    return emulation_problem(arch, binfmt_dir) is None


def emulation_problem(arch: str, binfmt_dir: str | None = None) -> str | None:
    """Why buildah here cannot run ``arch`` binaries (one sentence), or None when it can.

    A foreign arch runs through a qemu binfmt_misc entry. buildah's chroot
    (and a container's mount namespace) hides the host's qemu, so the entry
    needs the F (fix-binary) flag: the kernel then opens qemu when it is
    registered, not when a binary inside the build runs.
    """
    if koji.canonArch(arch) == host_arch():
        return None
    binfmt_dir = binfmt_dir or BINFMT_DIR
    entry = ARCHES.get(arch, (None, None))[1]
    if entry is None:
        return f"No emulator is known for arch {arch}; a builder of that arch has to build it."
    if not os.path.exists(os.path.join(binfmt_dir, "status")):
        return (
            f"binfmt_misc is not mounted at {binfmt_dir}, so this machine cannot run {arch} "
            f"binaries; mount it (mount -t binfmt_misc binfmt_misc {binfmt_dir}) and "
            f"install qemu-user-static."
        )
    try:
        with open(os.path.join(binfmt_dir, entry), encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return (
            f"No binfmt_misc entry {entry} is registered, so this machine cannot run {arch} "
            f"binaries; install qemu-user-static (it registers {entry})."
        )
    if not lines or lines[0].strip() != "enabled":
        return (
            f"The binfmt_misc entry {entry} is disabled; enable it "
            f"(echo 1 > {binfmt_dir}/{entry})."
        )
    flags = next((line.split(":", 1)[1] for line in lines if line.startswith("flags:")), "")
    if "F" not in flags:
        return (
            f"The binfmt_misc entry {entry} lacks the F (fix-binary) flag, so {arch} binaries "
            f"cannot run inside buildah's chroot; register it again with flag F."
        )
    return None


def oci_arch(arch: str) -> str:
    return ARCHES.get(arch, (arch, ""))[0]


def valid_handle(handle: str) -> bool:
    """Handles come back from task output: never let one name a path elsewhere."""
    return bool(_HANDLE_RE.match(handle or "")) and handle not in (".", "..")


def local_image_ref(handle: str, arch: str) -> str:
    """The name of one arch's image of a build in buildah's local storage."""
    return f"localhost/koji-containerbuild/{handle}:{arch}"


def local_list_ref(handle: str) -> str:
    """The name of a build's image list in buildah's local storage."""
    return f"localhost/koji-containerbuild/{handle}:list"


def local_refs(handle: str, spec: Mapping[str, Any]) -> list[str]:
    """The local images the runner of ``spec`` (its build.json) makes, for cleanup.

    An image list over arch images built elsewhere makes only the list; a
    build makes one image per arch, and a list when it pushes more than one.
    """
    if spec.get("images"):
        return [local_list_ref(handle)]
    platforms = spec["request"]["platforms"]
    refs = [local_image_ref(handle, arch) for arch in platforms]
    if len(platforms) > 1 and not spec["request"].get("push_by_digest"):
        refs.append(local_list_ref(handle))
    return refs


def settings_dict(settings: Any) -> dict[str, Any]:
    """The LocalSettings fields the runner needs, JSON-ready."""
    names = (
        "registry",
        "registry_tls_verify",
        "state_dir",
        "storage_root",
        "storage_runroot",
        "storage_driver",
        "isolation",
    )
    if isinstance(settings, Mapping):
        return {name: settings.get(name) for name in names}
    return {name: getattr(settings, name, None) for name in names}


def buildah_cmd(settings: Mapping[str, Any], *args: str) -> list[str]:
    """A buildah command line using the configured storage."""
    cmd = ["buildah"]
    if settings.get("storage_root"):
        cmd += ["--root", settings["storage_root"]]
    if settings.get("storage_runroot"):
        cmd += ["--runroot", settings["storage_runroot"]]
    if settings.get("storage_driver"):
        cmd += ["--storage-driver", settings["storage_driver"]]
    return cmd + list(args)


def tls_flag(settings: Mapping[str, Any], option: str = "--tls-verify") -> str:
    return f"{option}={'true' if settings.get('registry_tls_verify') else 'false'}"


def run(cmd: list[str], timeout: float | None = 300) -> subprocess.CompletedProcess:
    """Run a helper command quietly, capturing its output as text."""
    return subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def utf8_boundary(data: bytes | memoryview) -> int:
    """The largest cut ``<= len(data)`` that does not split a UTF-8 character."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back
            continue
        if byte >= 0xF8:  # never part of UTF-8
            need = 1
        elif byte >= 0xF0:
            need = 4
        elif byte >= 0xE0:
            need = 3
        elif byte >= 0xC0:
            need = 2
        else:
            need = 1
        return end if back >= need else end - back
    return end  # not UTF-8 there: any cut will do


def line_pieces(line: bytes, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """``line`` in pieces of at most ``limit`` bytes, cut at UTF-8 character boundaries."""
    if len(line) <= limit:
        yield line
        return
    view = memoryview(line)
    start = 0
    while len(line) - start > limit:
        cut = start + (utf8_boundary(view[start : start + limit]) or limit)
        yield bytes(view[start:cut])
        start = cut
    yield bytes(view[start:])


def output_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of ``stream`` without newlines; longer ones in pieces (see MAX_LINE_BYTES)."""
    carry = b""
    was_cut = False
    while True:
        piece = stream.readline(limit - len(carry))
        if not piece:
            if carry:
                yield carry
            return
        if carry:
            piece = carry + piece
            carry = b""
        if piece.endswith(b"\n"):
            if piece != b"\n" or not was_cut:  # the newline that ends a cut line
                yield piece[:-1]
            was_cut = False
            continue
        was_cut = len(piece) == limit
        if was_cut:
            cut = utf8_boundary(piece) or limit
            piece, carry = piece[:cut], piece[cut:]
        yield piece


def run_streamed(cmd: list[str], sink: Callable[[bytes], None]) -> int:
    """Run ``cmd`` sending each output line (stdout and stderr) to ``sink``.

    Lines longer than :data:`MAX_LINE_BYTES` reach ``sink`` in pieces.
    """
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    with proc.stdout:
        for line in output_lines(proc.stdout):
            sink(line)
    return proc.wait()


def wait_while_held(
    settings: Mapping[str, Any],
    point: str,
    note: Callable[[str], None],
    check: Callable[[], None],
) -> None:
    """Wait while ``<state_dir>/holds/<point>`` exists: a test holds a build in a phase.

    Nothing creates that file in production; the end-to-end fault tests do,
    to cancel, kill or restart at an exact step (``push``: the unique tag is
    pushed, version-release and the other tags are not). ``check`` raises
    when the build is cancelled meanwhile.
    """
    marker = os.path.join(settings.get("state_dir") or "", "holds", point)
    announced = False
    while os.path.exists(marker):
        if not announced:
            note(f"Holding at {point} while {marker} exists")
            announced = True
        check()
        time.sleep(0.1)


def read_json(path: str, default: Any = None) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def write_json(path: str, data: Any) -> None:
    """Write atomically: readers in other processes never see half a file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
