"""Hub API: file uploads into the work dir and task output downloads.

Paths from clients are untrusted: everything stays under <topdir>/work.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import stat

import koji
import koji.util
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current, export, refuse_non_host

_VERIFY = {
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
    "adler32": koji.util.adler32_constructor,
}


def verify_class(verify):
    if not verify:
        return None
    try:
        return _VERIFY[verify]
    except KeyError:
        raise koji.GenericError(f"Unsupported verify type: {verify}") from None


def upload_path(reldir: str, name: str, create: bool = False) -> str:
    """Absolute path of an upload, confined to the work dir (kojihub get_upload_path).

    Creating under ``tasks/`` is for the host that has that task OPEN only
    (Task.assertHost): a user cannot pre-create the output directory of a
    future task, and nobody writes into a cancelled or finished task.
    Anywhere else the directory belongs to its first uploader (``.user``).
    """
    directory, base = os.path.split(name)
    if directory or not base or base.startswith("."):
        raise koji.GenericError(f"Invalid upload filename: {name}")
    normal = os.path.normpath(reldir or "")
    if not reldir or normal.startswith("..") or os.path.isabs(normal) or normal == ".":
        raise koji.GenericError(f"Invalid upload directory: {reldir}")
    parts = normal.split("/")
    check_user = True
    if create and parts[0] == "tasks":
        if len(parts) < 3:
            raise koji.GenericError(f"Invalid task upload directory: {reldir}")
        try:
            task_id = int(parts[2])
        except ValueError:
            raise koji.GenericError(f"Invalid task upload directory: {reldir}") from None
        _assert_host_owns_task(task_id)
        check_user = False
    udir = os.path.join(current().workdir, normal)
    if create:
        os.makedirs(udir, exist_ok=True)
        session = context.session
        if check_user and session.logged_in:
            owner_file = os.path.join(udir, ".user")
            if os.path.exists(owner_file):
                with open(owner_file) as f:
                    owner = int(f.read())
                if owner != session.user_id:
                    raise koji.GenericError(f"Invalid upload directory, not owner: {reldir}")
            else:
                with open(owner_file, "w") as f:
                    f.write(str(session.user_id))
    return os.path.join(udir, base)


def _assert_host_owns_task(task_id: int) -> None:
    """kojihub's Host() then Task(task_id).assertHost(host.id), with their fault texts."""
    session = context.session
    host_id = session.getHostId()
    if host_id is None:
        refuse_non_host(session)
    row = current().db.one("SELECT state, host_id FROM tasks WHERE id = ?", (task_id,))
    if row is None:
        raise koji.GenericError(f"No such task: {task_id}")
    if row["state"] != koji.TASK_STATES["OPEN"] or row["host_id"] != host_id:
        raise koji.ActionNotAllowed(f"host {host_id} does not own task {task_id}")


#: An offset is a decimal integer (XML-RPC and the upload query send strings too).
_OFFSET_RE = re.compile(r"-?[0-9]+")


def upload_offset(value, what: str = "offset") -> int:
    """An upload offset or size as an int: >= 0, or -1 (append / unknown).

    kojihub would answer ``abc`` with a bare ValueError and ``-5`` with an
    OSError from lseek; the sandbox answers both with one koji fault.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise koji.ParameterError(f"Invalid upload {what}: {value!r} (an integer is needed)")
    if isinstance(value, str):
        if not _OFFSET_RE.fullmatch(value.strip()):
            raise koji.ParameterError(f"Invalid upload {what}: {value!r} (an integer is needed)")
        value = int(value)
    if value < -1:
        raise koji.ParameterError(f"Invalid upload {what}: {value} (it must be -1 or more)")
    return value


def _assert_no_hole(fd: int, offset: int, fn: str) -> None:
    """Refuse a write that starts past the end of the file.

    kojihub seeks there and leaves a sparse hole (an offset of 10 TB makes a
    10 TB file); koji's own clients only ever write at or before the end, so
    the sandbox refuses it instead.
    """
    end = os.fstat(fd).st_size
    if offset > end:
        raise koji.GenericError(
            f"Invalid upload offset {offset} for {os.path.basename(fn)}: the file has "
            f"{end} bytes, so the upload would leave a hole"
        )


@export()
def uploadFile(path, name, size, md5sum, offset, data, volume=None, checksum=None):
    context.session.assertLogin()
    contents = base64.b64decode(data)
    offset = upload_offset(offset)
    size = upload_offset(size, "size") if size is not None else None
    if checksum is not None:
        md5sum = checksum
    if isinstance(md5sum, str):
        verify, digest = "md5", md5sum
    elif md5sum is None:
        verify, digest = None, None
    else:
        verify, digest = md5sum
    sum_cls = verify_class(verify)
    if offset != -1:
        if size is not None and size != len(contents):
            return False
        if sum_cls is not None and digest != sum_cls(contents).hexdigest():
            return False
    fn = upload_path(path, name, create=True)
    try:
        st = os.lstat(fn)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(st.st_mode):
            raise koji.GenericError(f"destination not a file: {fn}")
        if offset == 0 and not fn.endswith(".log"):
            raise koji.GenericError(f"file already exists: {fn}")
    fd = os.open(fn, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        if offset == 0 or (offset == -1 and size == len(contents)):
            os.ftruncate(fd, 0)
        elif offset > 0:
            _assert_no_hole(fd, offset, fn)
        os.lseek(fd, 0 if offset == -1 else offset, os.SEEK_END if offset == -1 else 0)
        os.write(fd, contents)
        if offset == -1:
            if size is not None and size != os.fstat(fd).st_size:
                return False
            if sum_cls is not None:
                chksum = sum_cls()
                os.lseek(fd, 0, 0)
                while True:
                    block = os.read(fd, 1 << 20)
                    if not block:
                        break
                    chksum.update(block)
                if digest != chksum.hexdigest():
                    return False
    finally:
        os.close(fd)
    return True


def raw_upload(
    chunk: bytes, offset, path, name, verify="adler32", overwrite=False, volume=None
) -> dict:
    """The fast-upload POST handler (kojihub handle_upload), shared by HTTP and in-process."""
    session = context.session
    if not session.logged_in:
        raise koji.ActionNotAllowed("you must be logged-in to upload")
    offset = upload_offset(offset)
    fn = upload_path(path, name, create=True)
    if os.path.lexists(fn):
        if os.path.islink(fn):
            raise koji.GenericError(f"destination is a symlink: {fn}")
        if not os.path.isfile(fn):
            raise koji.GenericError(f"destination not a file: {fn}")
        if offset == 0 and not overwrite:
            raise koji.GenericError(f"upload path exists: {fn}")
    sum_cls = verify_class(verify)
    fd = os.open(fn, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise koji.LockError(e) from None
        if offset == -1:
            offset = os.lseek(fd, 0, os.SEEK_END)
        else:
            _assert_no_hole(fd, offset, fn)
            if overwrite:
                # a re-run rewrites its logs: drop what followed this chunk before
                os.ftruncate(fd, offset)
            os.lseek(fd, offset, 0)
        view = memoryview(chunk)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if not overwrite:
            end = os.lseek(fd, 0, os.SEEK_END)
            if end != offset + len(chunk):
                raise koji.GenericError(
                    f"Incorrect upload length for {fn} - Expected {offset + len(chunk)}, "
                    f"actual {end}"
                )
    finally:
        os.close(fd)
    result = {"size": len(chunk), "fileverify": verify, "offset": offset}
    if sum_cls is not None:
        result["hexdigest"] = sum_cls(chunk).hexdigest()
    return result


@export()
def checkUpload(path, name, verify=None, tail=None, volume=None):
    context.session.assertLogin()
    fn = upload_path(path, name)
    if not os.path.exists(fn):
        return None
    if not os.path.isfile(fn):
        raise koji.GenericError(f"Not a regular file: {fn}")
    st = os.stat(fn)
    data = {"size": st.st_size, "mtime": st.st_mtime}
    sum_cls = verify_class(verify)
    if sum_cls is not None:
        chksum = sum_cls()
        with open(fn, "rb") as f:
            if tail is not None:
                f.seek(max(0, st.st_size - int(tail)))
            for block in iter(lambda: f.read(1 << 20), b""):
                chksum.update(block)
        data["hexdigest"] = chksum.hexdigest()
    return data


def task_dir(task_id: int) -> str:
    return os.path.join(current().workdir, koji.pathinfo.taskrelpath(task_id))


@export()
def listTaskOutput(taskID, stat=False, all_volumes=False, strict=False):
    root = task_dir(taskID)
    if strict and current().db.one("SELECT id FROM tasks WHERE id = ?", (taskID,)) is None:
        raise koji.GenericError(f"No such task: {taskID}")
    result = {} if (stat or all_volumes) else []
    for dirpath, _dirs, files in os.walk(root):
        for filename in sorted(files):
            if filename == ".user":
                continue
            relname = os.path.relpath(os.path.join(dirpath, filename), root)
            if stat:
                st = os.stat(os.path.join(dirpath, filename))
                info = {
                    "st_size": str(st.st_size),
                    "st_atime": st.st_atime,
                    "st_mtime": st.st_mtime,
                    "st_ctime": st.st_ctime,
                }
                result[relname] = {"DEFAULT": info} if all_volumes else info
            elif all_volumes:
                result[relname] = ["DEFAULT"]
            else:
                result.append(relname)
    return result


@export()
def downloadTaskOutput(taskID, fileName, offset=0, size=-1, volume=None):
    if ".." in fileName or fileName.startswith("/"):
        raise koji.GenericError(f"Invalid file name: {fileName}")
    path = os.path.normpath(os.path.join(task_dir(taskID), fileName))
    if not os.path.isfile(path) or os.path.basename(path) == ".user":
        raise koji.GenericError(f'no file "{fileName}" output by task {taskID}')
    offset = int(offset)
    size = int(size)
    with open(path, "rb") as f:
        if offset > 0:
            f.seek(offset, 0)
        elif offset < 0:
            f.seek(offset, 2)
        contents = f.read(size)
    return base64.b64encode(contents).decode()
