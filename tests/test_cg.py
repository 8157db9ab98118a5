"""Content Generator import: metadata a real Koji hub accepts, reserve/refund/import."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import koji
import pytest

from koji_containerbuild.backends.base import BuildRequest, BuildResult, ImageOutput, Outcome
from koji_containerbuild.backends.local.backend import LocalBackend
from koji_containerbuild.builder import cg
from tests.conftest import open_task

REGISTRY = "127.0.0.1:5000"
REPO = f"{REGISTRY}/demo/demo-image"
DIGEST = "sha256:" + hashlib.sha256(b"manifest").hexdigest()


def make_archive(path: str, payload: bytes = b"layer") -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("manifest.json")
        data = json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode() + payload
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with gzip.open(path, "wb") as out:
        out.write(raw.getvalue())


def make_result(tmp_path, arches=("x86_64",)) -> BuildResult:
    images = []
    for arch in arches:
        archive = str(tmp_path / f"docker-image-0123456789ab.{arch}.tar.gz")
        make_archive(archive, arch.encode())
        images.append(
            ImageOutput(
                arch=arch,
                image_id="sha256:" + hashlib.sha256(arch.encode()).hexdigest(),
                archive_path=archive,
                parent_id="sha256:" + "1" * 64,
                digests={cg.MANIFEST_V2: DIGEST},
                config={"architecture": "amd64", "rootfs": {"diff_ids": ["sha256:" + "2" * 64]}},
                layer_sizes=[{"diff_id": "sha256:" + "2" * 64, "size": 1024}],
                repositories=[f"{REPO}:1.0-1-7-20250101", f"{REPO}:1.0-1", f"{REPO}@{DIGEST}"],
                tags=["1.0-1-7-20250101", "1.0-1", "latest"],
                components=[],
                tools=[{"name": "buildah", "version": "1.28.2"}],
            )
        )
    return BuildResult(
        outcome=Outcome.SUCCEEDED,
        repositories=[
            f"{REPO}:1.0-1-7-20250101",
            f"{REPO}:1.0-1",
            f"{REPO}:latest",
            f"{REPO}@{DIGEST}",
        ],
        platforms=list(arches),
        images=images,
        extra={"unique_tags": ["1.0-1-7-20250101"]},
    )


def make_logs(tmp_path, arches=("x86_64",)) -> list[str]:
    paths = []
    for name in [*arches, "osbs-build"]:
        path = tmp_path / f"{name}.log"
        path.write_bytes(f"STEP 1/2 for {name}\n".encode())
        paths.append(str(path))
    return paths


RECORD = cg.BuildRecord(
    name="demo-image",
    version="1.0",
    release="1",
    source="git://example.com/demo#abc123",
    owner="alice",
    task_id=7,
    start_time=1700000000.5,
    end_time=1700000100.25,
)
RESERVATION = cg.CGReservation(
    build_id=3, token="t0ken", cg_name="koji-containerbuild", nvr="demo-image-1.0-1"
)


def test_multi_arch_metadata_has_a_buildroot_and_image_per_arch(tmp_path):
    arches = ("x86_64", "aarch64")
    metadata, _ = cg.build_metadata(
        RESERVATION, RECORD, make_result(tmp_path, arches), make_logs(tmp_path, arches)
    )
    images = [o for o in metadata["output"] if o["type"] == cg.IMAGE_OUTPUT_TYPE]
    assert [o["arch"] for o in images] == list(arches)
    assert [o["extra"]["image"]["arch"] for o in images] == list(arches)
    roots = {br["id"]: br["container"]["arch"] for br in metadata["buildroots"]}
    assert {roots[o["buildroot_id"]] for o in images} == set(arches)
    logs = {
        o["filename"]: roots[o["buildroot_id"]] for o in metadata["output"] if o["type"] == "log"
    }
    assert logs["aarch64.log"] == "aarch64"


HOST_RPM = {
    "type": "rpm",
    "name": "buildah",
    "version": "1.39.0",
    "release": "1.fc42",
    "epoch": 2,
    "arch": "x86_64",
    "sigmd5": "0" * 32,
    "signature": "abcd1234",
}


def test_buildroot_lists_the_build_host_rpms(tmp_path):
    host_rpm = HOST_RPM
    result = make_result(tmp_path)
    result.images[0].buildroot_components = [host_rpm]
    metadata, _ = cg.build_metadata(RESERVATION, RECORD, result, make_logs(tmp_path))
    assert metadata["buildroots"][0]["components"] == [host_rpm]
    image = next(o for o in metadata["output"] if o["type"] == cg.IMAGE_OUTPUT_TYPE)
    assert image["components"] == []


def test_build_extra_carries_pull_specs_and_the_task(tmp_path):
    metadata, _ = cg.build_metadata(RESERVATION, RECORD, make_result(tmp_path), [])
    extra = metadata["build"]["extra"]
    assert extra["image"]["index"]["pull"] == [f"{REPO}@{DIGEST}", f"{REPO}:1.0-1"]
    assert extra["image"]["index"]["unique_tags"] == ["1.0-1-7-20250101"]
    assert extra["image"]["index"]["floating_tags"] == ["latest"]
    assert extra["container_koji_task_id"] == 7 == metadata["build"]["task_id"]
    assert metadata["build"]["build_id"] == RESERVATION.build_id
    assert metadata["build"]["owner"] == "alice"
    assert (metadata["build"]["start_time"], metadata["build"]["end_time"]) == (
        1700000000,
        1700000100,
    )


def test_docker_image_output_describes_the_image(tmp_path):
    result = make_result(tmp_path)
    metadata, _ = cg.build_metadata(RESERVATION, RECORD, result, [])
    [output] = [o for o in metadata["output"] if o["type"] == cg.IMAGE_OUTPUT_TYPE]
    docker = output["extra"]["docker"]
    image = result.images[0]
    assert docker["id"] == image.image_id and docker["parent_id"] == image.parent_id
    assert docker["digests"] == {cg.MANIFEST_V2: DIGEST}
    assert docker["layer_sizes"] == image.layer_sizes and docker["config"] == image.config
    assert docker["repositories"] == image.repositories
    assert docker["unique_tags"] == ["1.0-1-7-20250101"]
    assert docker["floating_tags"] == ["latest"]
    assert docker["tags"] == image.tags


def test_a_missing_archive_is_reported_before_anything_is_sent(tmp_path):
    result = make_result(tmp_path)
    os.unlink(result.images[0].archive_path)
    with pytest.raises(koji.BuildError, match="missing"):
        cg.build_metadata(RESERVATION, RECORD, result, [])


def test_a_build_without_images_is_not_imported(tmp_path):
    result = BuildResult(outcome=Outcome.SUCCEEDED)
    with pytest.raises(koji.BuildError, match="no image"):
        cg.build_metadata(RESERVATION, RECORD, result, [])


# -- against the sandbox hub (kojihub's CG checks) ---------------------------

CG_NAME = "koji-containerbuild"


@pytest.fixture
def builder(sandbox_hub):
    sandbox_hub.grant_cg_access("builder", CG_NAME)
    return sandbox_hub.session("builder")


def record_for(reservation, task_id=None):
    name, version, release = reservation.nvr.rsplit("-", 2)
    return cg.BuildRecord(
        name=name,
        version=version,
        release=release,
        source="git://example.com/demo#abc123",
        owner="alice",
        task_id=task_id,
        start_time=1700000000,
        end_time=1700000100,
    )


def test_import_completes_the_reserved_build_with_its_archives(tmp_path, builder):
    reservation = cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "1")
    result = make_result(tmp_path)

    build_id = cg.import_build(
        builder, reservation, record_for(reservation), result, make_logs(tmp_path), "cg-up/1"
    )

    assert build_id == reservation.build_id
    build = builder.getBuild(build_id)
    assert koji.BUILD_STATES[build["state"]] == "COMPLETE"
    assert build["nvr"] == "demo-image-1.0-1" and build["owner_name"] == "alice"
    assert build["extra"]["image"]["index"]["pull"] == [f"{REPO}@{DIGEST}", f"{REPO}:1.0-1"]
    [archive] = builder.listArchives(buildID=build_id)
    size, checksum = cg.file_facts(result.images[0].archive_path)
    assert archive["filename"] == os.path.basename(result.images[0].archive_path)
    assert (archive["size"], archive["checksum"]) == (size, checksum)


@pytest.mark.parametrize("arches", [("x86_64",), ("x86_64", "aarch64")])
def test_the_hubs_cg_importer_accepts_the_metadata(tmp_path, builder, sandbox_hub, arches):
    reservation = cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "9")
    result = make_result(tmp_path, arches)
    result.images[0].buildroot_components = [HOST_RPM]

    build_id = cg.import_build(
        builder, reservation, record_for(reservation, task_id=open_task(sandbox_hub)), result,
        make_logs(tmp_path, arches), "cg-up/9",
    )  # fmt: skip

    assert koji.BUILD_STATES[builder.getBuild(build_id)["state"]] == "COMPLETE"
    archives = builder.listArchives(buildID=build_id)
    assert sorted(a["extra"]["image"]["arch"] for a in archives) == sorted(arches)


def test_refund_makes_the_nvr_buildable_again(builder):
    reservation = cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "2")
    with pytest.raises(koji.GenericError):
        cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "2")

    cg.refund_build(builder, reservation, "FAILED")

    assert koji.BUILD_STATES[builder.getBuild(reservation.build_id)["state"]] == "FAILED"
    again = cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "2")
    assert again.nvr == reservation.nvr and again.token != reservation.token


def test_a_corrupted_upload_is_refused_by_the_hub(tmp_path, builder, sandbox_hub):
    reservation = cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "3")
    result = make_result(tmp_path)
    archive_name = os.path.basename(result.images[0].archive_path)
    upload = builder.uploadWrapper

    def upload_then_corrupt(localfile, path, name=None, **kwargs):
        upload(localfile, path, name=name, **kwargs)
        if name == archive_name:
            uploaded = os.path.join(sandbox_hub.topdir, "work", path, name)
            with open(uploaded, "r+b") as handle:
                first = handle.read(1)
                handle.seek(0)
                handle.write(bytes([first[0] ^ 0xFF]))

    builder.uploadWrapper = upload_then_corrupt
    with pytest.raises(koji.BuildError, match="checksum"):
        cg.import_build(builder, reservation, record_for(reservation), result, [], "cg-up/3")
    assert koji.BUILD_STATES[builder.getBuild(reservation.build_id)["state"]] == "BUILDING"


def test_a_real_local_build_is_imported(
    tmp_path, builder, sandbox_hub, registry, image_storage, base_image
):
    source = tmp_path / "source"
    source.mkdir()
    (source / "Dockerfile").write_text(f"FROM {base_image}\nRUN echo hi > /hi\n")
    backend = LocalBackend(
        {
            "registry": registry,
            "registry_tls_verify": False,
            "state_dir": str(tmp_path / "state"),
            "storage_root": image_storage.root,
            "storage_runroot": image_storage.runroot,
            "storage_driver": "vfs",
            "isolation": "chroot",
        }
    )
    reservation = cg.reserve_build(builder, CG_NAME, "demo-image", "2.0", "1")
    request = BuildRequest(
        kind="binary",
        task_id=11,
        owner="alice",
        target="demo",
        component="demo-image",
        platforms=[],
        source_dir=str(source),
        dockerfile="Dockerfile",
        name="demo/demo-image",
        version="2.0",
        release="1",
    )
    os.makedirs(backend.state_dir)
    handle = backend.start(request)
    log_path = tmp_path / "build.log"
    log_path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else line.encode()) + b"\n"
            for _, line in backend.logs(handle)
        )
    )
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED, result.reason

    build_id = cg.import_build(
        builder, reservation, record_for(reservation), result, [str(log_path)], "cg-up/real"
    )

    assert koji.BUILD_STATES[builder.getBuild(build_id)["state"]] == "COMPLETE"
    [archive] = builder.listArchives(buildID=build_id)
    assert archive["filename"].endswith(".tar.gz")
    pull = builder.getBuild(build_id)["extra"]["image"]["index"]["pull"]
    assert pull[1] == f"{registry}/demo/demo-image:2.0-1"
    backend.cleanup(handle)


def test_a_label_with_control_characters_is_imported_escaped(tmp_path, builder):
    reservation = cg.reserve_build(builder, CG_NAME, "demo-image", "1.0", "3")
    result = make_result(tmp_path)
    result.images[0].config["config"] = {"Labels": {"description": "bell\x07 esc\x1b]0;x"}}

    build_id = cg.import_build(
        builder, reservation, record_for(reservation), result, make_logs(tmp_path), "cg-up/3"
    )

    [archive] = builder.listArchives(buildID=build_id)
    labels = archive["extra"]["docker"]["config"]["config"]["Labels"]
    assert labels["description"] == "bell\\x07 esc\\x1b]0;x"
