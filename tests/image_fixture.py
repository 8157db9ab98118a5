"""A tiny base image built here, with no network: FROM scratch + busybox-static.

Local-backend, sandbox and end-to-end tests build on it. Storage stays under
the test's temporary directories (vfs driver, chroot isolation) so tests never
touch the machine's container storage and buildah never pulls from the
internet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from koji_containerbuild.sandbox.env.registry import Registry

BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
BASE_NAME = "koji-containerbuild/busybox-base"
BASE_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL name="busybox-base" version="1" release="1"
CMD ["/bin/sh"]
"""


@dataclass
class Storage:
    """Where buildah keeps images for the tests (``--root``/``--runroot``)."""

    root: str
    runroot: str
    driver: str = "vfs"

    def buildah(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--root",
            self.root,
            "--runroot",
            self.runroot,
            "--storage-driver",
            self.driver,
            *args,
        ]


def busybox_binary() -> str:
    for path in BUSYBOX_PATHS:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        "busybox-static is needed for the test base image (apt busybox-static)"
    )


def build_base_image(storage: Storage, registry: str, workdir: str, tag: str = "latest") -> str:
    """Build the busybox base image, push it to ``registry`` and return its pull spec."""
    context = os.path.join(workdir, "base-context")
    os.makedirs(context, exist_ok=True)
    shutil.copy2(busybox_binary(), os.path.join(context, "busybox"))
    with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as dockerfile:
        dockerfile.write(BASE_DOCKERFILE)
    pull_spec = f"{registry}/{BASE_NAME}:{tag}"
    subprocess.run(
        [
            *storage.buildah("bud", "--quiet", "--format", "docker", "--isolation", "chroot"),
            "-t",
            pull_spec,
            context,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        storage.buildah(
            "push", "--quiet", "--tls-verify=false", pull_spec, f"docker://{pull_spec}"
        ),
        check=True,
        capture_output=True,
    )
    return pull_spec


@pytest.fixture(scope="session")
def image_storage(tmp_path_factory) -> Storage:
    base = tmp_path_factory.mktemp("containers")
    return Storage(root=str(base / "root"), runroot=str(base / "runroot"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Iterator[str]:
    """A docker-registry on loopback for the whole session; yields ``host:port``."""
    with Registry(str(tmp_path_factory.mktemp("registry"))) as running:
        yield running.address


@pytest.fixture(scope="session")
def base_image(image_storage, registry, tmp_path_factory) -> str:
    """Pull spec of the busybox base image in the session registry (and storage)."""
    return build_base_image(image_storage, registry, str(tmp_path_factory.mktemp("base")))
