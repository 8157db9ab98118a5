"""The steps of one local build: buildah bud per arch, image facts, push and tags.

Runs inside the detached runner process (:mod:`.local_runner`); everything it
learns or does is written to files in the build directory, where the task
process reads it: the framed log, the push journal and the final status.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import os
import shutil
import subprocess
import tarfile
from typing import Any

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import yum_repos
from koji_containerbuild.backends.local.push import BuildFailed, PushSteps
from koji_containerbuild.image.dockerfile import DockerfileError, read_dockerfile
from koji_containerbuild.image.imagetags import ImageTags
from koji_containerbuild.image.sourcefiles import SourceFileError

#: zlib level of the image archive the CG import uploads. At level 6 this
#: compression was the build runner's largest CPU cost in Python (deflate's
#: lazy matching); level 1 is three times faster for an archive about a tenth
#: larger, and the archive is read only by those who download it from Koji.
ARCHIVE_GZIP_LEVEL = 1
RPM_QUERYFORMAT = (
    "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\t%{SIGMD5}\\t"
    "%{SIGPGP:pgpsig}\\t%{SIGGPG:pgpsig}\\n"
)


class BuildCancelled(Exception):
    """The backend asked this build to stop."""


class LogWriter:
    """Appends ``<platform>\\t<line>\\n`` records, flushed per line for live tails.

    No record holds more than :data:`~.buildah.MAX_LINE_BYTES` of a line, so
    the task process reading them never needs more memory than that either.
    """

    def __init__(self, path: str) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the run

    def write(self, platform: str | None, line: str | bytes) -> None:
        if isinstance(line, str):
            line = line.encode("utf-8")
        prefix = (platform or bh.NO_PLATFORM).encode("ascii") + b"\t"
        parts = line.split(b"\n") if b"\n" in line else (line,)
        for part in parts:
            for piece in bh.line_pieces(part):
                self._file.write(b"".join((prefix, piece, b"\n")))

    def close(self) -> None:
        self._file.close()


class Runner(PushSteps):
    def __init__(self, build_dir: str) -> None:
        self.build_dir = build_dir
        spec = bh.read_json(os.path.join(build_dir, bh.BUILD_FILE))
        self.request: dict[str, Any] = spec["request"]
        self.settings: dict[str, Any] = spec["settings"]
        self.repository: str = spec["repository"]
        self.unique_tag: str = spec["unique_tag"]
        #: Every tag to push, unique first, as imagetags decided for this kind of build.
        self.tags: list[str] = ImageTags(**spec["tags"]).pushed()
        self.handle: str = os.path.basename(build_dir)
        self.work = os.path.join(build_dir, bh.WORK_DIR)
        os.makedirs(self.work, exist_ok=True)
        self.log = LogWriter(os.path.join(build_dir, bh.LOG_FILE))
        self.journal: dict[str, Any] = {
            "repository": self.repository,
            "unique_tags": [],
            "digests": [],
            "moved_tags": {},
        }
        #: Fetched yum_repourls files, mounted over /etc/yum.repos.d for RUN steps.
        self.repo_dir: str | None = None
        #: The host's RPMs (the buildroot), listed once for all arches.
        self.host_components: list[dict[str, Any]] | None = None

    # -- helpers -----------------------------------------------------------
    def buildah(self, *args: str) -> list[str]:
        return bh.buildah_cmd(self.settings, *args)

    def check_cancelled(self) -> None:
        if os.path.exists(os.path.join(self.build_dir, bh.CANCEL_FILE)):
            raise BuildCancelled()

    def checked(self, cmd: list[str], what: str) -> str:
        result = bh.run(cmd, timeout=None)
        if result.returncode != 0:
            self.log.write(None, result.stderr.rstrip())
            last = (result.stderr.strip().splitlines() or ["no error output"])[-1]
            raise BuildFailed(f"{what} failed: {last}")
        return result.stdout

    def hold(self, point: str) -> None:
        """Wait while a test holds builds at ``point`` (see buildah.wait_while_held)."""
        bh.wait_while_held(self.settings, point, lambda t: self.log.write(None, t),
                           self.check_cancelled)  # fmt: skip

    # -- the build ---------------------------------------------------------
    def run(self) -> dict[str, Any]:
        if self.request.get("push_by_digest") and len(self.request["platforms"]) != 1:
            raise BuildFailed("An arch subtask builds exactly one arch.")
        self.repo_dir = self.fetch_yum_repos()
        # Each arch's image is pushed while its archive is written and read
        # (both only read the image from the local storage): the build waits
        # for the longer of the two, not for both in turn.
        images: list[dict[str, Any]] = []
        pushes: list[concurrent.futures.Future] = []
        # Leaving the block waits for the pushes, also when a step failed: the
        # push journal must name all they reached before the runner withdraws it.
        with concurrent.futures.ThreadPoolExecutor(1) as pusher:
            for arch in self.request["platforms"]:
                raise_failed_push(pushes)  # no next arch after a failed push
                image_id, local_ref = self.build_image(arch)
                pushes.append(pusher.submit(self.push_arch, arch, local_ref))
                images.append(self.describe_arch(arch, image_id, local_ref))
        for image, push in zip(images, pushes):
            image["digests"] = {bh.MANIFEST_V2: push.result()}
        self.check_cancelled()
        digest, list_digest = self.push_rest(images)
        return self.outcome(images, digest, list_digest)

    def outcome(
        self, images: list[dict[str, Any]], digest: str, list_digest: str | None
    ) -> dict[str, Any]:
        """The succeeded status: what was pushed, and the images to import."""
        tags = list(self.tags)
        repositories = [f"{self.repository}:{tag}" for tag in tags]
        repositories.append(f"{self.repository}@{list_digest or digest}")
        for image in images:
            image["repositories"] = repositories
            image["tags"] = tags
            image.pop("local_ref", None)
        extra: dict[str, Any] = {
            "unique_tags": [self.unique_tag] if self.unique_tag else [],
            "repository": self.repository,
        }
        extra["digest"] = list_digest or digest
        if list_digest:
            extra["index_digests"] = {bh.MANIFEST_LIST_V2: list_digest}
        return {
            "outcome": "succeeded",
            "reason": "",
            "repositories": repositories,
            "platforms": [image["arch"] for image in images],
            "images": images,
            "build_name": self.handle,
            "extra": extra,
        }

    def fetch_yum_repos(self) -> str | None:
        """The directory of the fetched yum_repourls files (None without any)."""
        urls = (self.request.get("opts") or {}).get("yum_repourls") or []
        if not urls:
            return None
        repo_dir = os.path.join(self.work, "yum.repos.d")
        try:
            paths = yum_repos.fetch_repo_files(urls, repo_dir)
        except yum_repos.RepoFetchError as error:
            raise BuildFailed(str(error)) from None
        for url, path in zip(urls, paths):
            self.log.write(
                None, f"Fetched {url} as {yum_repos.YUM_REPOS_DIR}/{os.path.basename(path)}"
            )
        return repo_dir

    def build_image(self, arch: str) -> tuple[str, str]:
        """``buildah bud`` for one arch; the image id and its local name."""
        self.check_cancelled()
        req = self.request
        local_ref = bh.local_image_ref(self.handle, arch)
        iidfile = os.path.join(self.work, f"{arch}.iid")
        dockerfile = os.path.join(req["source_dir"], req.get("dockerfile") or "Dockerfile")
        cmd = self.buildah("bud", "--format", "docker", "--isolation", self.settings["isolation"])
        cmd += ["--pull=missing", bh.tls_flag(self.settings), "--iidfile", iidfile]
        cmd += ["--platform", f"linux/{bh.oci_arch(arch)}", "-f", dockerfile, "-t", local_ref]
        cmd += yum_repos.volume_args(self.repo_dir)
        for label in ("name", "version", "release"):
            if req.get(label):
                cmd += ["--label", f"{label}={req[label]}"]
        if req.get("parent_image"):
            cmd += ["--from", req["parent_image"]]
        cmd.append(req["source_dir"])
        self.log.write(arch, f"Building {req.get('name') or 'image'} for {arch}")
        status = bh.run_streamed(cmd, lambda line: self.log.write(arch, line))
        if status != 0:
            raise BuildFailed(
                f"The image build for {arch} failed (buildah exited with status {status}); "
                f"the {arch} build log shows why."
            )
        with open(iidfile, encoding="ascii") as handle:
            return handle.read().strip(), local_ref

    def describe_arch(self, arch: str, image_id: str, local_ref: str) -> dict[str, Any]:
        """The image's archive and its CG facts: parent, RPMs, tools, buildroot."""
        image = self.describe_image(arch, image_id, local_ref)
        image["parent_id"] = self.parent_id()
        has_rpmdb = image.pop("has_rpmdb")
        image["components"] = self.components(arch, image_id) if has_rpmdb else []
        image["tools"] = tool_versions()
        if self.host_components is None:
            self.host_components = host_rpms()
        image["buildroot_components"] = self.host_components
        return image

    def describe_image(self, arch: str, image_id: str, local_ref: str) -> dict[str, Any]:
        """Write the gzipped docker-archive and read config and layer sizes from it."""
        plain = os.path.join(self.work, f"{arch}.tar")
        name = self.request.get("name") or "image"
        self.checked(
            self.buildah("push", "--quiet", image_id, f"docker-archive:{plain}:{name}:{arch}"),
            f"Writing the {arch} image archive",
        )
        with tarfile.open(plain) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))[0]
            config = json.load(archive.extractfile(manifest["Config"]))
            sizes = [archive.getmember(layer).size for layer in manifest["Layers"]]
            has_rpmdb = layers_hold_rpmdb(archive, manifest["Layers"])
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        layer_sizes = [{"diff_id": d, "size": s} for d, s in zip(diff_ids, sizes)]
        short_id = image_id.replace("sha256:", "")[:12]
        archive_path = os.path.join(self.work, f"docker-image-{short_id}.{arch}.tar.gz")
        level = ARCHIVE_GZIP_LEVEL
        with open(plain, "rb") as src, gzip.open(archive_path, "wb", compresslevel=level) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        os.unlink(plain)
        return {
            "arch": arch,
            "image_id": f"sha256:{image_id.replace('sha256:', '')}",
            "archive_path": archive_path,
            "config": config,
            "layer_sizes": layer_sizes,
            "digests": {},
            "local_ref": local_ref,
            "has_rpmdb": has_rpmdb,
        }

    def parent_id(self) -> str | None:
        parent = self.request.get("parent_image")
        if not parent:
            name = self.request.get("dockerfile") or "Dockerfile"
            try:
                facts = read_dockerfile(self.request["source_dir"], os.path.basename(name))
            except (DockerfileError, SourceFileError) as error:
                # buildah built it, so only the parent's id is lost: say so in the log
                self.log.write(None, f"Not recording the parent image: {error}")
                facts = None
            parent = facts.baseimage if facts else None
        if not parent or parent == "scratch":
            return None
        result = bh.run(
            self.buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", parent)
        )
        if result.returncode != 0 or not result.stdout.strip():
            return None
        return f"sha256:{result.stdout.strip()}"

    def components(self, arch: str, image_id: str) -> list[dict[str, Any]]:
        """RPMs of the image when it carries an RPM database; empty otherwise."""
        if os.geteuid() != 0:
            self.log.write(arch, "Not listing RPM components: mounting images needs root.")
            return []
        container = self.checked(
            self.buildah("from", "--pull=never", image_id), "Opening the image to list RPMs"
        ).strip()
        try:
            mount = self.checked(self.buildah("mount", container), "Mounting the image").strip()
            return query_rpms(mount)
        finally:
            bh.run(self.buildah("umount", container))
            bh.run(self.buildah("rm", container))


def raise_failed_push(pushes: list[concurrent.futures.Future]) -> None:
    """Raise the error of the first push that already failed, if one did."""
    for push in pushes:
        if push.done() and push.exception() is not None:
            raise push.exception()


#: Where an image keeps its RPM database, relative to its root.
RPMDB_DIRS = ("usr/lib/sysimage/rpm", "var/lib/rpm")


def layers_hold_rpmdb(archive: tarfile.TarFile, layers: list[str]) -> bool:
    """Whether any layer of a docker-archive has a file in an RPM database directory.

    Reading the layer listings is far cheaper than mounting the image (with
    vfs storage ``buildah from`` copies every layer), and most images without
    RPMs need no mount at all; an image that has one is mounted and queried.
    """
    prefixes = tuple(f"{path}/" for path in RPMDB_DIRS)
    for layer in layers:
        member = archive.extractfile(layer)
        if member is None:
            continue
        with tarfile.open(fileobj=member, mode="r:*") as contents:
            for entry in contents:
                name = entry.name.lstrip("./")
                if entry.isfile() and name.startswith(prefixes):
                    return True
    return False


def query_rpms(root: str) -> list[dict[str, Any]]:
    """CG components of the RPMs installed under ``root`` (none without an rpmdb)."""
    for dbpath in RPMDB_DIRS:
        if os.path.isdir(os.path.join(root, dbpath)) and os.listdir(os.path.join(root, dbpath)):
            break
    else:
        return []
    result = bh.run(
        ["rpm", "--root", root, "--dbpath", f"/{dbpath}", "-qa", "--qf", RPM_QUERYFORMAT]
    )
    if result.returncode != 0:
        raise BuildFailed(f"Listing the image's RPMs failed: {result.stderr.strip()}")
    return rpm_components(result.stdout)


def host_rpms() -> list[dict[str, Any]]:
    """CG components of the builder host's RPMs: the buildroot of a local build.

    A host without rpm or with an empty database (Debian) has none; the
    listing only describes the buildroot, so a failing query never fails
    the build.
    """
    try:
        result = bh.run(["rpm", "-qa", "--qf", RPM_QUERYFORMAT])
    except (OSError, subprocess.SubprocessError):
        return []
    return rpm_components(result.stdout) if result.returncode == 0 else []


def rpm_components(listing: str) -> list[dict[str, Any]]:
    """CG components from ``rpm -qa --qf RPM_QUERYFORMAT`` output, sorted."""
    components = []
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) != 8 or fields[0] == "gpg-pubkey":
            continue
        name, version, release, epoch, arch, sigmd5, pgp, gpg = fields
        signature = next((s.rsplit("Key ID ", 1)[-1] for s in (pgp, gpg) if "Key ID" in s), None)
        components.append(
            {
                "type": "rpm",
                "name": name,
                "version": version,
                "release": release,
                "epoch": None if epoch == "(none)" else int(epoch),
                "arch": arch,
                "sigmd5": sigmd5,
                "signature": signature,
            }
        )
    return sorted(components, key=lambda c: (c["name"], c["arch"]))


def tool_versions() -> list[dict[str, str]]:
    tools = []
    for name in ("buildah", "skopeo"):
        result = bh.run([name, "--version"], timeout=30)
        if result.returncode == 0 and result.stdout.split():
            words = result.stdout.split()
            version = words[words.index("version") + 1] if "version" in words else words[-1]
            tools.append({"name": name, "version": version})
    return tools
