"""The demo bumps the example's release label to the next free NVR."""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.sandbox import demo

DOCKERFILE = (
    'FROM base\nLABEL com.redhat.component="demo-image" \\\n      version="1.0" release="1"\n'
)


class FakeSession:
    def __init__(self, builds: dict[str, str]):
        self.builds = builds

    def getBuild(self, nvr):
        state = self.builds.get(nvr)
        return None if state is None else {"nvr": nvr, "state": koji.BUILD_STATES[state]}


def test_labels_are_read_from_the_dockerfile():
    assert demo.read_label(DOCKERFILE, "com.redhat.component") == "demo-image"
    assert demo.read_label(DOCKERFILE, "release") == "1"
    assert demo.read_label(DOCKERFILE, "missing") is None


def test_set_release_rewrites_only_the_release_label():
    text = demo.set_release(DOCKERFILE, 7)
    assert demo.read_label(text, "release") == "7"
    assert demo.read_label(text, "version") == "1.0"


def test_set_release_needs_a_release_label():
    with pytest.raises(ValueError, match="release label"):
        demo.set_release("FROM base\n", 2)


def test_next_release_skips_built_nvrs_and_reuses_failed_ones():
    session = FakeSession({"demo-image-1.0-1": "COMPLETE", "demo-image-1.0-2": "FAILED"})
    assert demo.next_release(session, "demo-image", "1.0") == 2
    session.builds["demo-image-1.0-2"] = "COMPLETE"
    assert demo.next_release(session, "demo-image", "1.0") == 3
