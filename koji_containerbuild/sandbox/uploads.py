"""Hub API: file uploads into the work dir and task output downloads.

Paths from clients are untrusted: everything stays under <topdir>/work.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import stat

import koji
import koji.util
from koji.context import context

from koji_containerbuild.sandbox.api_base import current, export

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
    """Absolute path of an upload, confined to the work dir (owner-checked on create)."""
    directory, base = os.path.split(name)
    if directory or not base or base.startswith("."):
        raise koji.GenericError(f"Invalid upload filename: {name}")
    normal = os.path.normpath(reldir or "")
    if not reldir or normal.startswith("..") or os.path.isabs(normal) or normal == ".":
        raise koji.GenericError(f"Invalid upload directory: {reldir}")
    udir = os.path.join(current().workdir, normal)
    if create:
        os.makedirs(udir, exist_ok=True)
        session = context.session
        if session.logged_in:
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


@export()
def uploadFile(path, name, size, md5sum, offset, data, volume=None, checksum=None):
    context.session.assertLogin()
    contents = base64.b64decode(data)
    offset = koji.decode_int(offset)
    size = koji.decode_int(size) if size is not None else None
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
    offset = int(offset)
    fn = upload_path(path, name, create=True)
    if os.path.lexists(fn):
        if not os.path.isfile(fn) or os.path.islink(fn):
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
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, 0)
        view = memoryview(chunk)
        while view:
            written = os.write(fd, view)
            view = view[written:]
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
