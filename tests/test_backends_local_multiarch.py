"""The local backend's multi-arch parts with real buildah, skopeo and docker-registry.

An arch subtask's build pushes its image by digest only; the parent's image
list build joins such images under the build's tags, and withdraws them
with the list when it is cancelled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess

import pytest

from koji_containerbuild.backends import create_backend
from koji_containerbuild.backends.base import BackendError, Outcome
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.config import LocalSettings
from tests.local_backend_fixture import (  # noqa: F401 - fixtures
    backend,
    make_request,
    registry_digest,
    registry_tags,
    settings,
)


@pytest.fixture
def name(tmp_path):
    """A repository of this test's own: the registry is shared by the tests."""
    return f"demo/{tmp_path.name.lower()}"


def raw_manifest(settings, ref: str) -> dict:
    done = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 else {}


def built(backend, request):
    """The result of a build that must succeed (a failure shows its reason)."""
    result = backend.wait(backend.start(request))
    assert (result.outcome, result.reason) == (Outcome.SUCCEEDED, "")
    return result


@pytest.fixture(scope="module")
def built_arch_images(tmp_path_factory, image_storage, registry, base_image):
    """Two arch builds pushed by digest, once for the module: (repository, images).

    Both are of this host's arch (buildah gives two images); the tests get
    copies of them in repositories of their own (arch_images).
    """
    tmp_path = tmp_path_factory.mktemp("arch-images")
    module_settings = LocalSettings(
        registry=registry, registry_tls_verify=False, state_dir=str(tmp_path / "state"),
        storage_root=image_storage.root, storage_runroot=image_storage.runroot,
        storage_driver="vfs", isolation="chroot",
    )  # fmt: skip
    os.makedirs(module_settings.state_dir)
    module_backend = create_backend("local", module_settings)
    images = []
    for word in ("one", "two"):
        request = make_request(
            tmp_path, f"FROM {base_image}\nRUN echo {word} > /w\n", name="demo/arch-images",
            push_by_digest=True,
        )  # fmt: skip
        images.extend(built(module_backend, request).images)
    return f"{registry}/demo/arch-images", images


@pytest.fixture
def arch_images(built_arch_images, settings, name):
    """The module's two arch images, copied by digest into this test's own repository."""
    source, images = built_arch_images
    repository = f"{settings.registry}/{name}"
    copies = []
    for image in images:
        digest = image.digests[bh.MANIFEST_V2]
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
             "--dest-tls-verify=false", f"docker://{source}@{digest}",
             f"docker://{repository}@{digest}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        copies.append(
            dataclasses.replace(
                image, digests=dict(image.digests), repositories=[f"{repository}@{digest}"]
            )
        )
    return copies


def test_arch_build_pushes_its_image_by_digest_only(tmp_path, backend, settings, base_image, name):
    request = make_request(tmp_path, f"FROM {base_image}\n", name=name, push_by_digest=True)
    result = built(backend, request)
    [image] = result.images
    digest = image.digests[bh.MANIFEST_V2]
    repo = f"{settings.registry}/{name}"
    assert (result.repositories, registry_tags(settings, name)) == ([f"{repo}@{digest}"], [])


def test_arch_image_pushed_by_digest_is_in_the_registry(
    tmp_path, backend, settings, base_image, name
):
    request = make_request(tmp_path, f"FROM {base_image}\n", name=name, push_by_digest=True)
    [image] = built(backend, request).images
    digest = image.digests[bh.MANIFEST_V2]
    ref = f"{settings.registry}/{name}@{digest}"
    assert registry_digest(settings, ref) == digest


def test_image_list_joins_the_arch_images(tmp_path, backend, settings, arch_images, name):
    request = make_request(tmp_path, "FROM scratch\n", name=name, isolated=True)
    result = backend.wait(backend.start_image_list(request, arch_images))
    assert result.outcome is Outcome.SUCCEEDED, result.reason
    listed = raw_manifest(settings, result.repositories[-1])
    assert [entry["digest"] for entry in listed["manifests"]] == [
        image.digests[bh.MANIFEST_V2] for image in arch_images
    ]


def test_image_list_pushes_the_tags_of_the_build_kind(
    tmp_path, backend, settings, arch_images, name
):
    request = make_request(tmp_path, "FROM scratch\n", name=name, isolated=True)
    result = backend.wait(backend.start_image_list(request, arch_images))
    unique = result.extra["unique_tags"][0]
    assert registry_tags(settings, name) == sorted([unique, "1.0-1"])


def test_image_list_result_points_every_tag_at_the_list(
    tmp_path, backend, settings, arch_images, name
):
    request = make_request(tmp_path, "FROM scratch\n", name=name)
    result = backend.wait(backend.start_image_list(request, arch_images))
    list_digest = result.extra["digest"]
    tagged = {registry_digest(settings, ref) for ref in result.repositories}
    assert (tagged, result.extra["index_digests"]) == (
        {list_digest},
        {bh.MANIFEST_LIST_V2: list_digest},
    )


def test_cancelled_image_list_withdraws_the_arch_images(
    tmp_path, backend, settings, arch_images, name
):
    request = make_request(tmp_path, "FROM scratch\n", name=name)
    handle = backend.start_image_list(request, arch_images)
    backend.wait(handle)
    backend.cancel(handle)
    left = [
        registry_digest(settings, f"{settings.registry}/{name}@{image.digests[bh.MANIFEST_V2]}")
        for image in arch_images
    ]
    assert (left, registry_tags(settings, name)) == ([None, None], [])


def test_withdrawn_arch_images_leave_the_registry(tmp_path, backend, settings, arch_images, name):
    backend.withdraw_images(arch_images)
    left = [
        registry_digest(settings, f"{settings.registry}/{name}@{image.digests[bh.MANIFEST_V2]}")
        for image in arch_images
    ]
    assert left == [None, None]


def test_arch_image_a_tag_points_at_is_not_withdrawn(
    tmp_path, backend, settings, arch_images, name
):
    first = arch_images[0]
    digest = first.digests[bh.MANIFEST_V2]
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
         "--dest-tls-verify=false", f"docker://{settings.registry}/{name}@{digest}",
         f"docker://{settings.registry}/{name}:kept"],
        check=True, timeout=60,
    )  # fmt: skip
    backend.withdraw_images([first])
    assert registry_digest(settings, f"{settings.registry}/{name}@{digest}") == digest


def test_image_list_needs_images_pushed_by_digest(tmp_path, backend, arch_images, name):
    arch_images[0].digests = {}
    with pytest.raises(BackendError, match="every arch's image pushed by digest"):
        backend.start_image_list(make_request(tmp_path, "FROM scratch\n", name=name), arch_images)
