"""The demo bumps the example's release label to the next free NVR."""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.image.dockerfile import parse_dockerfile
from koji_containerbuild.image.labels import ImageLabels
from koji_containerbuild.sandbox.env import demo
from tests.builder_harness import import_image_build

DOCKERFILE = (
    'FROM base\nLABEL com.redhat.component="demo-image" \\\n      version="1.0" release="1"\n'
)


def test_set_release_rewrites_only_the_release_label():
    text = demo.set_release(DOCKERFILE, "7")
    assert parse_dockerfile(text.encode()).labels == {
        "com.redhat.component": "demo-image",
        "version": "1.0",
        "release": "7",
    }


def test_set_release_needs_a_release_label():
    with pytest.raises(ValueError, match="release label"):
        demo.set_release("FROM base\n", "2")


def test_demo_release_skips_built_nvrs_and_reuses_failed_ones(sandbox_hub, tmp_path):
    import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-1", {})
    sandbox_hub.grant_cg_access("admin", "test-cg")
    admin = sandbox_hub.session("admin")
    reserved = admin.CGInitBuild(
        "test-cg", {"name": "demo-image", "version": "1.0", "release": "2"}
    )
    admin.CGRefundBuild(
        "test-cg", reserved["build_id"], reserved["token"], koji.BUILD_STATES["FAILED"]
    )
    session = sandbox_hub.session()
    image = ImageLabels(component="demo-image", name="demo/demo-image", version="1.0", release="1")
    assert demo.demo_release(session, image) == "2"
    import_image_build(sandbox_hub, str(tmp_path), "demo-image-1.0-2", {})
    assert demo.demo_release(session, image) == "3"


def test_demo_release_starts_at_the_release_label(sandbox_hub):
    image = ImageLabels(component="demo-image", name="demo/demo-image", version="1.0", release="5")
    assert demo.demo_release(sandbox_hub.session(), image) == "5"
