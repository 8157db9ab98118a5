"""The sandbox's busybox base image, for every arch its hosts build.

Each arch gets an image from scratch holding Debian's static busybox of that
arch (``localhost/koji-sandbox-base:<arch>``); ``localhost/koji-sandbox-base:latest``
is a manifest list of them, so ``FROM localhost/koji-sandbox-base:latest``
with buildah ``--platform linux/<arch>`` picks the image of that arch. Built
once into the local backend's storage; a later start builds only what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.sandbox.env.layout import (
    BASE_IMAGE,
    BUSYBOX,
    BUSYBOX_APPLETS,
    EXAMPLES_DIR,
    Paths,
    SandboxError,
    buildah_base_args,
    host_arch,
)

BASE_REPOSITORY = BASE_IMAGE.rsplit(":", 1)[0]
#: Where scripts/bootstrap.sh unpacks busybox-static of other arches: <dir>/<arch>/bin/busybox.
FOREIGN_BUSYBOX_DIR = "/var/cache/koji-containerbuild/busybox"
FOREIGN_BUSYBOX_ENV = "KCB_FOREIGN_BUSYBOX_DIR"


def arch_image(arch: str) -> str:
    """The base image of one arch, e.g. localhost/koji-sandbox-base:aarch64."""
    return f"{BASE_REPOSITORY}:{arch}"


def busybox_for(arch: str) -> str:
    """This machine's busybox for its own arch; bootstrap's unpacked one for others."""
    if arch == host_arch():
        return BUSYBOX
    top = os.environ.get(FOREIGN_BUSYBOX_ENV) or FOREIGN_BUSYBOX_DIR
    return os.path.join(top, arch, "bin", "busybox")


def busybox_problem(arch: str) -> str | None:
    """Why the base image of ``arch`` cannot be made here (one sentence), or None."""
    path = busybox_for(arch)
    if os.path.exists(path):
        return None
    if arch == host_arch():
        return f"{path} is missing; install the busybox-static package."
    deb_arch = bh.oci_arch(arch)
    return (
        f"{path} is missing, so the sandbox has no {arch} base image; run scripts/bootstrap.sh "
        f"as root (it unpacks Debian's busybox-static:{deb_arch} there)."
    )


def _run(paths: Paths, *args: str, log=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*buildah_base_args(paths), *args],
        stdout=log if log is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        check=False,
    )


def _image_exists(paths: Paths, name: str) -> bool:
    return _run(paths, "inspect", "--type", "image", name).returncode == 0


def listed_arches(paths: Paths) -> list[str] | None:
    """Arches in the base manifest list, or None when BASE_IMAGE is no manifest list."""
    done = _run(paths, "manifest", "inspect", BASE_IMAGE)
    if done.returncode != 0:
        return None
    try:
        manifests = json.loads(done.stdout).get("manifests") or []
    except ValueError:
        return None
    by_oci = {bh.oci_arch(arch): arch for arch in bh.ARCHES}
    return [by_oci.get(m.get("platform", {}).get("architecture"), "?") for m in manifests]


def build_arch_image(paths: Paths, arch: str, log_path: str) -> None:
    """busybox of ``arch`` and its applet links on scratch, as a linux/<arch> image."""
    problem = busybox_problem(arch)
    if problem:
        raise SandboxError(problem)
    context = os.path.join(paths.state, f"base-context-{arch}")
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(os.path.join(EXAMPLES_DIR, "base"), context)
    bindir = os.path.join(context, "rootfs", "bin")
    os.makedirs(bindir)
    os.makedirs(os.path.join(context, "rootfs", "tmp"))
    shutil.copy2(busybox_for(arch), os.path.join(bindir, "busybox"))
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(bindir, applet))
    platform = f"linux/{bh.oci_arch(arch)}"
    with open(log_path, "ab") as log:
        done = _run(paths, "bud", "--isolation", "chroot", "--platform", platform,
                    "-t", arch_image(arch), context, log=log)  # fmt: skip
    shutil.rmtree(context, ignore_errors=True)
    if done.returncode != 0:
        raise SandboxError(f"Building the {arch} base image failed; see {log_path}.")


def build_base_image(paths: Paths, log_path: str, arches: list[str] | None = None) -> None:
    """Make BASE_IMAGE a manifest list holding a base image of every arch in ``arches``.

    Default: this machine's arch alone. Arch images already built are kept;
    a base image of an older sandbox (one plain image, no list) becomes the
    image of this machine's arch.
    """
    wanted = list(arches or [host_arch()])
    listed = listed_arches(paths)
    if listed is not None and set(wanted) <= set(listed):
        return
    if listed is None and _image_exists(paths, BASE_IMAGE):
        # the plain image of an older sandbox: keep it under its arch name
        if not _image_exists(paths, arch_image(host_arch())):
            _run(paths, "tag", BASE_IMAGE, arch_image(host_arch()))
        _run(paths, "rmi", BASE_IMAGE)
    keep = [arch for arch in listed or [] if arch in bh.ARCHES]
    every = wanted + [arch for arch in keep if arch not in wanted]
    for arch in every:
        if not _image_exists(paths, arch_image(arch)):
            build_arch_image(paths, arch, log_path)
    with open(log_path, "ab") as log:
        if listed is not None:
            _run(paths, "manifest", "rm", BASE_IMAGE, log=log)
        steps = [("manifest", "create", BASE_IMAGE)]
        steps += [("manifest", "add", BASE_IMAGE, f"containers-storage:{arch_image(arch)}")
                  for arch in every]  # fmt: skip
        for step in steps:
            if _run(paths, *step, log=log).returncode != 0:
                raise SandboxError(f"Making the base manifest list failed; see {log_path}.")
