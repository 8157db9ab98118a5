"""CG reservations and CGImport on the sandbox hub, checked as a real hub checks them."""

from __future__ import annotations

import hashlib
import json
import os
import re

import koji
import pytest

from tests.conftest import open_task

CG = "koji-containerbuild"
IMAGE = b"not really a tarball, but bytes with a checksum"
LOG = b"STEP 1/2: FROM scratch\n"


@pytest.fixture
def cg_hub(sandbox_hub):
    sandbox_hub.grant_cg_access("builder", CG)
    return sandbox_hub


def upload(session, directory, name, data):
    session.rawUpload(data, 0, directory, name)


def metadata(build_id=None, task_id=None, **build_overrides):
    """CG metadata of demo-image-1.0-1; ``task_id`` (a real task) goes into extra, as OSBS's."""
    build = {
        "name": "demo-image",
        "version": "1.0",
        "release": "1",
        "source": "git://x#abc",
        "start_time": 1000,
        "end_time": 2000,
        "owner": "alice",
        "extra": {"image": {"index": {"pull": ["r/demo@sha256:1"]}}},
    }
    if build_id is not None:
        build["build_id"] = build_id
    if task_id is not None:
        build["extra"]["container_koji_task_id"] = task_id
    build.update(build_overrides)
    return {
        "metadata_version": 0,
        "build": {k: v for k, v in build.items() if v is not None},
        "buildroots": [
            {
                "id": 1,
                "content_generator": {"name": CG, "version": "2.0"},
                "container": {"type": "none", "arch": "x86_64"},
                "host": {"os": "linux", "arch": "x86_64"},
                "components": [],
                "tools": [],
            }
        ],
        "output": [
            {
                "buildroot_id": 1,
                "filename": "image-x86_64.tar.gz",
                "filesize": len(IMAGE),
                "arch": "x86_64",
                "checksum": hashlib.md5(IMAGE).hexdigest(),
                "checksum_type": "md5",
                "type": "docker-image",
                "extra": {"image": {"arch": "x86_64"}, "docker": {"id": "sha256:abc"}},
            },
            {
                "buildroot_id": 1,
                "filename": "x86_64.log",
                "filesize": len(LOG),
                "arch": "noarch",
                "checksum": hashlib.sha256(LOG).hexdigest(),
                "checksum_type": "sha256",
                "type": "log",
            },
        ],
    }


def reserve_and_upload(hub, directory="cg/import-1"):
    builder = hub.session("builder")
    reservation = builder.CGInitBuild(CG, {"name": "demo-image", "version": "1.0", "release": "1"})
    upload(builder, directory, "image-x86_64.tar.gz", IMAGE)
    upload(builder, directory, "x86_64.log", LOG)
    return builder, reservation


def test_reserved_import_completes_the_build(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    assert cg_hub.session().getBuild(res["build_id"])["state"] == koji.BUILD_STATES["BUILDING"]
    task_id = open_task(cg_hub)
    build = builder.CGImport(
        metadata(res["build_id"], task_id=task_id), "cg/import-1", token=res["token"]
    )
    assert (build["nvr"], build["state"], build["cg_name"]) == (
        "demo-image-1.0-1",
        koji.BUILD_STATES["COMPLETE"],
        CG,
    )
    assert (build["owner_name"], build["task_id"]) == ("alice", task_id)
    assert build["extra"]["typeinfo"]["image"]["index"]["pull"] == ["r/demo@sha256:1"]
    archives = builder.listArchives(buildID=build["id"])
    assert [(a["filename"], a["btype"], a["arch"]) for a in archives] == [
        ("image-x86_64.tar.gz", "image", "x86_64")
    ]
    images = f"{cg_hub.packagesdir}/demo-image/1.0/1/images/image-x86_64.tar.gz"
    with open(images, "rb") as f:
        assert f.read() == IMAGE


def test_metadata_file_uploaded_next_to_outputs(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    upload(builder, "cg/import-1", "metadata.json", json.dumps(metadata(res["build_id"])).encode())
    build = builder.CGImport("metadata.json", "cg/import-1", token=res["token"])
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]


def test_missing_build_extra_is_a_bare_key_error(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    del meta["build"]["extra"]
    with pytest.raises(koji.Fault, match=r"KeyError.*'extra'") as exc:
        builder.CGImport(meta, "cg/import-1", token=res["token"])
    assert exc.value.faultCode == 1


def test_checksum_mismatch_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    meta["output"][0]["checksum"] = "0" * 32
    with pytest.raises(koji.GenericError, match="File checksum mismatch for image-x86_64"):
        builder.CGImport(meta, "cg/import-1", token=res["token"])


def test_size_mismatch_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    meta["output"][1]["filesize"] += 1
    with pytest.raises(koji.GenericError, match="Corrupted upload"):
        builder.CGImport(meta, "cg/import-1", token=res["token"])


def test_archive_without_typeinfo_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    del meta["output"][0]["extra"]["image"]
    with pytest.raises(koji.GenericError, match=r"No typeinfo for: image-x86_64\.tar\.gz"):
        builder.CGImport(meta, "cg/import-1", token=res["token"])


def test_archive_btype_must_be_a_build_type(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    del meta["build"]["extra"]["image"]
    with pytest.raises(koji.GenericError, match="Output type image not listed in build types"):
        builder.CGImport(meta, "cg/import-1", token=res["token"])


def test_duplicate_legacy_and_typeinfo_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    meta["build"]["extra"]["typeinfo"] = {"image": {}}
    with pytest.raises(koji.GenericError, match=r"Duplicate typeinfo for 'image'"):
        builder.CGImport(meta, "cg/import-1", token=res["token"])


def test_unused_buildroot_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    meta = metadata(res["build_id"])
    meta["buildroots"].append(dict(meta["buildroots"][0], id=2))
    with pytest.raises(koji.GenericError, match="Buildroot id not used in output: 2"):
        builder.CGImport(meta, "cg/import-1", token=res["token"])


def test_wrong_token_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    with pytest.raises(koji.GenericError, match="Token doesn't match build ID"):
        builder.CGImport(metadata(res["build_id"]), "cg/import-1", token="forged")


def test_import_needs_cg_access(cg_hub):
    _builder, res = reserve_and_upload(cg_hub)
    with pytest.raises(koji.AuthError, match="Content generator access required"):
        cg_hub.session("alice").CGImport(
            metadata(res["build_id"]), "cg/import-1", token=res["token"]
        )


def test_reservation_of_a_complete_nvr_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    builder.CGImport(metadata(res["build_id"]), "cg/import-1", token=res["token"])
    with pytest.raises(koji.GenericError, match="Build already exists"):
        builder.CGInitBuild(CG, {"name": "demo-image", "version": "1.0", "release": "1"})


def test_refund_lets_the_nvr_be_built_again(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    builder.CGRefundBuild(CG, res["build_id"], res["token"], koji.BUILD_STATES["FAILED"])
    assert builder.getBuild(res["build_id"])["state"] == koji.BUILD_STATES["FAILED"]
    again = builder.CGInitBuild(CG, {"name": "demo-image", "version": "1.0", "release": "1"})
    assert again["build_id"] == res["build_id"] and again["token"] != res["token"]


def test_second_reservation_of_a_building_nvr_is_refused(cg_hub):
    reserve_and_upload(cg_hub)
    with pytest.raises(koji.GenericError, match="Build is already reserved"):
        cg_hub.session("builder").CGInitBuild(
            CG, {"name": "demo-image", "version": "1.0", "release": "1"}
        )


def test_refund_with_wrong_token_is_refused(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    with pytest.raises(koji.GenericError, match="Token doesn't match"):
        builder.CGRefundBuild(CG, res["build_id"], "forged")


def test_refund_state_must_be_failed_or_canceled(cg_hub):
    builder, res = reserve_and_upload(cg_hub)
    with pytest.raises(koji.GenericError, match="Only FAILED/CANCELED"):
        builder.CGRefundBuild(CG, res["build_id"], res["token"], koji.BUILD_STATES["COMPLETE"])


def test_import_without_reservation_creates_the_build(cg_hub):
    builder = cg_hub.session("builder")
    upload(builder, "cg/direct", "image-x86_64.tar.gz", IMAGE)
    upload(builder, "cg/direct", "x86_64.log", LOG)
    build = builder.CGImport(metadata(), "cg/direct")
    assert builder.getBuild("demo-image-1.0-1")["id"] == build["id"]
    assert builder.listBuilds(type="image")[0]["nvr"] == "demo-image-1.0-1"


# ---------------------------------------------------------------- NVRs the hub refuses
# kojihub: verify_name_internal on the name, check_NVR ('-' in version or release);
# the sandbox also refuses parts that are not one directory name.

BAD_NVRS = [
    ({"release": ".."}, "Invalid release for a build directory"),
    ({"release": "."}, "Invalid release for a build directory"),
    ({"version": ".."}, "Invalid version for a build directory"),
    ({"release": "1/../../x"}, "Invalid release for a build directory"),
    ({"version": "1-2"}, 'The "-" character not allowed in version field'),
    ({"release": "1-2"}, 'The "-" character not allowed in release field'),
    ({"name": "demo image"}, "does not match RegexNameInternal value"),
    ({"name": ".."}, "Invalid name for a build directory"),
    ({"name": "x" * 257}, "is too long. Max length is 256 characters"),
    ({"release": ""}, "No release value for build"),
]


@pytest.mark.parametrize(("change", "fault"), BAD_NVRS, ids=[str(c) for c, _ in BAD_NVRS])
def test_reservation_of_an_nvr_kojihub_or_the_filesystem_refuses(cg_hub, change, fault):
    data = {"name": "demo-image", "version": "1.0", "release": "1", **change}
    with pytest.raises(koji.GenericError, match=re.escape(fault)):
        cg_hub.session("builder").CGInitBuild(CG, data)
    assert cg_hub.session().listBuilds() == []


@pytest.mark.parametrize(("change", "fault"), BAD_NVRS, ids=[str(c) for c, _ in BAD_NVRS])
def test_import_of_an_nvr_kojihub_or_the_filesystem_refuses_writes_nothing(cg_hub, change, fault):
    builder = cg_hub.session("builder")
    upload(builder, "cg/bad", "image-x86_64.tar.gz", IMAGE)
    upload(builder, "cg/bad", "x86_64.log", LOG)
    with pytest.raises(koji.GenericError, match=re.escape(fault)):
        builder.CGImport(metadata(**change), "cg/bad")
    assert cg_hub.session().listBuilds() == []
    assert not os.path.exists(cg_hub.packagesdir) or os.listdir(cg_hub.packagesdir) == []


def test_import_naming_a_task_that_does_not_exist_is_refused(cg_hub):
    # kojihub's build.task_id references the task table
    builder, res = reserve_and_upload(cg_hub)
    with pytest.raises(koji.GenericError, match="No such task: 999999"):
        builder.CGImport(
            metadata(res["build_id"], task_id=999999), "cg/import-1", token=res["token"]
        )
    assert cg_hub.session().getBuild(res["build_id"])["state"] == koji.BUILD_STATES["BUILDING"]
