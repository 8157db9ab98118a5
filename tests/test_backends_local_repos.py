"""yum_repourls in the local backend: fetched, seen by RUN steps, absent from the image."""

from __future__ import annotations

import gzip
import http.server
import io
import re
import tarfile

import pytest

from koji_containerbuild.backends.base import Outcome
from koji_containerbuild.backends.local import yum_repos
from koji_containerbuild.sandbox.httpthread import serve_in_thread, stop_serving
from tests import test_backends_local as local_tests

# the local backend's fixtures: real buildah, registry and base image
settings = local_tests.settings
backend = local_tests.backend

REPO_TEXT = "[sandbox-extra]\nname=Sandbox extra\nbaseurl=http://127.0.0.1/extra/\n"


@pytest.fixture
def repo_server():
    """Serves /extra.repo; every other path is a 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/extra.repo":
                body = REPO_TEXT.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404, "Not Found")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = serve_in_thread(server, "repo-files")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop_serving(server, thread)


def image_paths(archive_path: str) -> set[str]:
    """Every path in every layer of a gzipped docker-archive."""
    paths = set()
    with gzip.open(archive_path) as raw, tarfile.open(fileobj=io.BytesIO(raw.read())) as outer:
        for member in outer.getmembers():
            if member.name.endswith(".tar") or member.name.endswith("/layer.tar"):
                with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                    paths.update(layer.getnames())
    return paths


def build_with_repos(tmp_path, backend, base_image, urls, run="cat /etc/yum.repos.d/*.repo"):
    request = local_tests.make_request(
        tmp_path, f"FROM {base_image}\nRUN {run}\n", opts={"yum_repourls": urls}
    )
    handle = backend.start(request)
    logs = [line for _, line in backend.logs(handle)]
    return backend.wait(handle), logs


def test_run_steps_see_the_fetched_repo_files(tmp_path, backend, base_image, repo_server):
    result, logs = build_with_repos(tmp_path, backend, base_image, [f"{repo_server}/extra.repo"])
    assert result.outcome == Outcome.SUCCEEDED
    assert "baseurl=http://127.0.0.1/extra/" in logs


def test_fetched_repo_files_are_not_in_the_image(tmp_path, backend, base_image, repo_server):
    result, _ = build_with_repos(tmp_path, backend, base_image, [f"{repo_server}/extra.repo"])
    repo_files = [
        p for p in image_paths(result.images[0].archive_path) if re.search(r"\.repo$", p)
    ]
    assert repo_files == []


def test_unfetchable_repo_url_fails_the_build_with_its_sentence(
    tmp_path, backend, base_image, repo_server
):
    result, _ = build_with_repos(tmp_path, backend, base_image, [f"{repo_server}/missing.repo"])
    assert result.outcome == Outcome.FAILED
    assert f"The yum repo file {repo_server}/missing.repo given in yum_repourls" in result.reason
    assert "(HTTP 404 Not Found)" in result.reason


def test_repo_file_name_stays_a_plain_name_whatever_the_url():
    name = yum_repos.repo_filename("http://example.com/a/../../etc/pass wd.repo?x=1")
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*-[0-9a-f]{8}\.repo", name)


def test_two_urls_with_one_base_name_get_two_files():
    first = yum_repos.repo_filename("http://one.example.com/x.repo")
    second = yum_repos.repo_filename("http://two.example.com/x.repo")
    assert first != second
