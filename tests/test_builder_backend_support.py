"""Build kinds and options a backend cannot honour are refused before anything is reserved.

Through the real builder plugin with the real local backend: the refusal
comes before the backend is asked to start, so no buildah is needed.
"""

import koji
import pytest

from koji_containerbuild.backends.base import BuildBackend, BuildRequest, unsupported_request
from tests.builder_harness import DOCKERFILE, Kojid, import_image_build, write_builder_config

NVR = "demo-image-1.0-1"
OPTS = {"git_branch": "main"}


@pytest.fixture
def kojid(sandbox_hub, tmp_path, monkeypatch):
    local = {"registry": "127.0.0.1:9", "state_dir": str(tmp_path / "local-state")}
    config = write_builder_config(str(tmp_path / "builder.conf"), "local", local=local)
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    sandbox_hub.grant_cg_access("builder", "koji-containerbuild")
    return Kojid(sandbox_hub, str(tmp_path / "kojid-work"))


@pytest.fixture
def source(git_sources):
    return git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})


@pytest.mark.parametrize(
    ("option", "value", "needs"),
    [
        ("compose_ids", [12], "ODCS"),
        ("signing_intent", "release", "ODCS"),
        ("dependency_replacements", ["gomod:example.com/x:v1.2"], "Cachito"),
    ],
)
def test_option_the_local_backend_lacks_is_refused_naming_it_and_the_backend(
    kojid, source, option, value, needs
):
    task_id = kojid.submit(source, {**OPTS, option: value})
    with pytest.raises(koji.BuildError) as raised:
        kojid.run(task_id)
    assert str(raised.value) == (
        f"The local backend of this builder does not support {option} (needs {needs}); "
        "drop it or build on a builder with the osbs backend."
    )


def test_refused_option_reserves_no_build(kojid, source):
    with pytest.raises(koji.BuildError):
        kojid.run(kojid.submit(source, {**OPTS, "compose_ids": [12]}))
    assert kojid.session.getBuild(NVR) is None


def test_flatpak_build_on_the_local_backend_is_refused_before_any_reservation(kojid, source):
    with pytest.raises(koji.BuildError, match="The local backend of this builder cannot build "
                       "flatpaks; only the osbs backend builds them"):  # fmt: skip
        kojid.run(kojid.submit(source, {**OPTS, "flatpak": True}))
    assert kojid.session.listBuilds() == []


def test_source_container_build_on_the_local_backend_is_refused_before_any_reservation(
    kojid, sandbox_hub, tmp_path
):
    import_image_build(sandbox_hub, str(tmp_path / "image"), NVR, {"index": {}})
    task_id = kojid.submit_source({"koji_build_nvr": NVR, "scratch": True})
    with pytest.raises(koji.BuildError, match="cannot build source container images; only "
                       "the osbs backend builds them"):  # fmt: skip
        kojid.run(task_id)
    assert [b["nvr"] for b in kojid.session.listBuilds()] == [NVR]


class EverythingBackend(BuildBackend):
    """A backend declaring nothing: every kind and option (what OSBS offers)."""

    name = "everything"
    start = logs = wait = cancel = cleanup = lookup = None


def request(**fields):
    values = dict(kind="binary", task_id=1, owner="alice", target="demo", component="x")
    values["platforms"] = ["x86_64"]
    values.update(fields)
    return BuildRequest(**values)


def test_backend_declaring_no_limits_accepts_every_kind_and_option():
    assert (
        unsupported_request(EverythingBackend(), request(flatpak=True, opts={"compose_ids": [1]}))
        is None
    )


def test_options_given_empty_are_not_refused():
    backend = EverythingBackend()
    backend.supported_options = frozenset({"git_branch"})
    assert (
        unsupported_request(backend, request(opts={"git_branch": "main", "compose_ids": []}))
        is None
    )


def test_several_refused_options_are_named_in_one_sentence():
    backend = EverythingBackend()
    backend.supported_options = frozenset()
    refusal = unsupported_request(
        backend, request(opts={"signing_intent": "x", "compose_ids": [1]})
    )
    assert refusal == (
        "The everything backend of this builder does not support compose_ids (needs ODCS), "
        "signing_intent (needs ODCS); drop them or build on a builder with the osbs backend."
    )
