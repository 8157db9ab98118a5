"""The build registry's reads and tag moves (backends/local/registry.py).

Against the tests' docker-registry on loopback: over HTTP the answers are
the ones skopeo gives, with no skopeo process run (a skopeo that fails is
first on PATH); a registry that asks for credentials, or a server that is no
registry, is left to skopeo.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess

import pytest

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry as local_registry
from koji_containerbuild.sandbox.httpthread import serve_in_thread, stop_serving

SETTINGS = {"registry_tls_verify": False}


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["skopeo", *args], capture_output=True, check=True, timeout=60
    )  # fmt: skip


def skopeo_digest(ref: str) -> str:
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}").stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.fixture
def repository(registry, base_image, tmp_path):
    """A repository of this test's own holding the base image as ``one``."""
    name = f"{registry}/registry/{tmp_path.name.lower()}"
    skopeo("copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{base_image}", f"docker://{name}:one")  # fmt: skip
    return name


def fake_skopeo(tmp_path, monkeypatch, script: str) -> str:
    """Put a skopeo running ``script`` first on PATH; the file its calls are noted in."""
    calls = tmp_path / "skopeo-calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "skopeo").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{script}\n')
    (bin_dir / "skopeo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return str(calls)


def calls_of(calls: str) -> str:
    with open(calls, encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture
def no_skopeo(tmp_path, monkeypatch):
    """A skopeo that fails every call: what still works went over HTTP."""
    calls = fake_skopeo(tmp_path, monkeypatch, "exit 1")
    yield
    assert not os.path.exists(calls), calls_of(calls)


def test_digest_read_over_http_is_the_one_skopeo_reads(repository, request):
    expected = skopeo_digest(f"{repository}:one")
    request.getfixturevalue("no_skopeo")
    assert local_registry.registry_digest(SETTINGS, f"{repository}:one") == expected


def test_digest_of_a_tag_that_is_not_there_is_none(repository, no_skopeo):
    assert local_registry.registry_digest(SETTINGS, f"{repository}:absent") is None


def test_tags_listed_over_http_are_the_ones_skopeo_lists(repository, request):
    skopeo("copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{repository}:one", f"docker://{repository}:two")  # fmt: skip
    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{repository}").stdout
    request.getfixturevalue("no_skopeo")
    assert sorted(local_registry.list_tags(SETTINGS, repository)) == sorted(
        json.loads(listed)["Tags"]
    )


def test_tags_of_a_repository_that_is_not_there_are_none(registry, no_skopeo):
    assert local_registry.list_tags(SETTINGS, f"{registry}/registry/never-pushed") == []


def test_tag_moved_over_http_has_the_digest_of_its_source(repository, request):
    digest = skopeo_digest(f"{repository}:one")
    request.getfixturevalue("no_skopeo")
    assert local_registry.tag_over_http(SETTINGS, repository, digest, "moved") is True
    assert local_registry.registry_digest(SETTINGS, f"{repository}:moved") == digest


def test_tag_of_a_digest_that_is_not_there_is_left_to_skopeo(repository, no_skopeo):
    missing = "sha256:" + "0" * 64
    assert local_registry.tag_over_http(SETTINGS, repository, missing, "moved") is False


def test_a_withdrawal_in_a_repository_http_shows_takes_its_404s_as_final(
    repository, tmp_path, request
):
    # the build died before its push: nothing to withdraw, and no skopeo run to be sure
    journal = {"repository": repository, "unique_tags": ["1.0-1-9-2026"], "digests": []}
    (tmp_path / bh.PUSHED_FILE).write_text(json.dumps(journal))
    request.getfixturevalue("no_skopeo")
    assert local_registry.withdraw_pushes(str(tmp_path), SETTINGS) == []


def test_tag_move_without_a_digest_is_left_to_skopeo(repository, request):
    # an empty digest must not be read as the manifest of "latest"
    skopeo("copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{repository}:one", f"docker://{repository}:latest")  # fmt: skip
    request.getfixturevalue("no_skopeo")
    assert local_registry.tag_over_http(SETTINGS, repository, "", "moved") is False
    assert local_registry.registry_digest(SETTINGS, f"{repository}:moved") is None


class _AnswerServer(http.server.BaseHTTPRequestHandler):
    status = 401
    headers_out: dict[str, str] = {}
    body = b""

    def do_GET(self):
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_PUT = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def answering(request):
    """A server answering every request with (status, headers[, body]) of the test's param."""
    status, headers, *body = request.param
    attributes = {"status": status, "headers_out": headers, "body": b"".join(body)}
    handler = type("Handler", (_AnswerServer,), attributes)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = serve_in_thread(server, "answering")
    yield f"127.0.0.1:{server.server_address[1]}"
    stop_serving(server, thread)


CREDENTIALS_WANTED = (
    401,
    {
        local_registry.API_HEADER: "registry/2.0",
        "WWW-Authenticate": 'Bearer realm="http://x/token"',
    },
)
NOT_A_REGISTRY = (200, {"Content-Type": "text/html"})


@pytest.mark.parametrize(
    "answering", [CREDENTIALS_WANTED, NOT_A_REGISTRY], indirect=True, ids=["401", "no-registry"]
)
def test_digest_is_read_by_skopeo_where_http_gets_no_registry_answer(
    answering, tmp_path, monkeypatch
):
    calls = fake_skopeo(tmp_path, monkeypatch, 'printf \'{"from": "skopeo"}\'')
    digest = local_registry.registry_digest(SETTINGS, f"{answering}/app:1")
    assert (digest, calls_of(calls)) == (
        "sha256:" + hashlib.sha256(b'{"from": "skopeo"}').hexdigest(),
        f"inspect --tls-verify=false --raw docker://{answering}/app:1\n",
    )


@pytest.mark.parametrize("answering", [CREDENTIALS_WANTED], indirect=True, ids=["401"])
def test_tags_are_listed_by_skopeo_where_the_registry_wants_credentials(
    answering, tmp_path, monkeypatch
):
    calls = fake_skopeo(tmp_path, monkeypatch, """printf '{"Tags": ["a", "b"]}'""")
    assert local_registry.list_tags(SETTINGS, f"{answering}/app") == ["a", "b"]
    assert calls_of(calls) == f"list-tags --tls-verify=false docker://{answering}/app\n"


REGISTRY_JSON = {local_registry.API_HEADER: "registry/2.0", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "answering",
    [(200, REGISTRY_JSON, b'["a"]'), (200, REGISTRY_JSON, b'{"tags": [1]}')],
    indirect=True,
    ids=["not-an-object", "not-strings"],
)
def test_tags_are_listed_by_skopeo_where_the_answer_holds_no_tag_list(
    answering, tmp_path, monkeypatch
):
    calls = fake_skopeo(tmp_path, monkeypatch, """printf '{"Tags": ["a"]}'""")
    assert local_registry.list_tags(SETTINGS, f"{answering}/app") == ["a"]
    assert calls_of(calls) == f"list-tags --tls-verify=false docker://{answering}/app\n"


HIDING = (404, {local_registry.API_HEADER: "registry/2.0"})


@pytest.mark.parametrize("answering", [HIDING], indirect=True, ids=["404"])
def test_a_digest_http_does_not_find_is_absent_unless_it_must_be_confirmed(
    answering, tmp_path, monkeypatch
):
    calls = fake_skopeo(tmp_path, monkeypatch, """printf '{"m": 1}'""")
    ref = f"{answering}/app:1"
    found = [
        local_registry.registry_digest(SETTINGS, ref, confirm_absent=c) for c in (False, True)
    ]
    assert found == [None, "sha256:" + hashlib.sha256(b'{"m": 1}').hexdigest()]
    assert calls_of(calls) == f"inspect --tls-verify=false --raw docker://{ref}\n"


@pytest.mark.parametrize("answering", [HIDING], indirect=True, ids=["404"])
def test_an_image_a_tag_names_is_kept_where_http_sees_no_tags(answering, tmp_path, monkeypatch):
    # skopeo, with the host's credentials, sees tag "t" on the image
    script = (
        """case "$1" in list-tags) printf '{"Tags": ["t"]}';; inspect) printf '{"m": 1}';; esac"""
    )
    calls = fake_skopeo(tmp_path, monkeypatch, script)
    digest = "sha256:" + hashlib.sha256(b'{"m": 1}').hexdigest()
    assert local_registry.delete_untagged(SETTINGS, f"{answering}/app", digest) == []
    assert "delete" not in calls_of(calls)


@pytest.mark.parametrize("answering", [CREDENTIALS_WANTED], indirect=True, ids=["401"])
def test_tag_move_is_left_to_skopeo_where_the_registry_wants_credentials(answering):
    digest = "sha256:" + "1" * 64
    assert local_registry.tag_over_http(SETTINGS, f"{answering}/app", digest, "latest") is False


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("host:5000/ns/app:1.0-1", ("host:5000", "ns/app", "1.0-1")),
        ("host:5000/ns/app@sha256:ab", ("host:5000", "ns/app", "sha256:ab")),
        ("host:5000/ns/app", ("host:5000", "ns/app", None)),
        ("host/app", ("host", "app", None)),
    ],
)
def test_reference_splits_into_host_name_and_tag_or_digest(ref, parts):
    assert local_registry.split_reference(ref) == parts
