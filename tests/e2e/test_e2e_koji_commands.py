"""End to end: real builds end tagged, honour yum_repourls, and the koji commands work.

The same running sandbox as test_e2e (real buildah, registry, worker and
hub plugin); every check goes through the real koji CLI.
"""

from __future__ import annotations

import http.server

import koji
import pytest

from koji_containerbuild.sandbox.env import runtime
from koji_containerbuild.sandbox.httpthread import serve_in_thread, stop_serving
from tests.e2e.test_e2e import build, dockerfile, koji_cli, publish, task_log_text

pytestmark = pytest.mark.e2e


def test_non_scratch_build_ends_tagged_in_the_destination_tag(sandbox, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-tagged", dockerfile("e2e-tagged", "1", "true"))
    done, _ = build(sandbox, url)
    assert done.returncode == 0, done.stdout + done.stderr
    latest = koji_cli(sandbox, "latest-build", "--quiet", runtime.DEST_TAG, "e2e-tagged")
    assert latest.stdout.split()[:2] == ["e2e-tagged-1.0-1", runtime.DEST_TAG]


def test_download_build_fetches_the_imported_image_archive(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-download", dockerfile("e2e-download", "1", "true"))
    done, _ = build(sandbox, url)
    assert done.returncode == 0, done.stdout + done.stderr
    archive = session.listArchives(buildID=session.getBuild("e2e-download-1.0-1")["id"])[0]
    fetched = koji_cli(
        sandbox, "download-build", "--type=image", "e2e-download-1.0-1", cwd=tmp_path
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / archive["filename"]).stat().st_size == archive["size"]


def test_watch_logs_follows_a_running_build_to_its_end(sandbox, tmp_path):
    text = dockerfile("e2e-watch", "1", "echo e2e-watched-step && sleep 2")
    url = publish(sandbox, tmp_path, "e2e-watch", text)
    _, task_id = build(sandbox, url, wait=False)
    watched = koji_cli(sandbox, "watch-logs", str(task_id))
    assert watched.returncode == 0, watched.stderr
    assert "e2e-watched-step" in watched.stdout


@pytest.fixture
def repo_server():
    """A .repo file served on loopback, as an ODCS or Koji repo URL would be."""
    body = b"[e2e-extra]\nname=e2e extra\nbaseurl=http://127.0.0.1/e2e-extra/\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = serve_in_thread(server, "e2e-extra-repo")
    yield f"http://127.0.0.1:{server.server_address[1]}/e2e-extra.repo"
    stop_serving(server, thread)


def test_repo_url_is_seen_by_the_run_steps(sandbox, session, tmp_path, repo_server):
    text = dockerfile("e2e-repos", "1", "cat /etc/yum.repos.d/*.repo")
    url = publish(sandbox, tmp_path, "e2e-repos", text)
    done, task_id = build(sandbox, url, "--repo-url", repo_server)
    assert done.returncode == 0, done.stdout + done.stderr
    logs = task_log_text(session, task_id)
    assert "baseurl=http://127.0.0.1/e2e-extra/" in logs, logs  # the whole log if it fails


def test_compose_id_is_refused_by_the_local_backend_before_a_build_exists(
    sandbox, session, tmp_path
):
    url = publish(sandbox, tmp_path, "e2e-compose", dockerfile("e2e-compose", "1", "true"))
    done, _ = build(sandbox, url, "--compose-id", "7")
    assert done.returncode == 1
    assert "does not support compose_ids (needs ODCS)" in done.stdout + done.stderr
    assert session.getBuild("e2e-compose-1.0-1") is None


def test_demo_shows_its_build_tagged_in_the_destination_tag(sandbox, session, capfd):
    from koji_containerbuild.sandbox.env import demo

    assert demo.run_demo(runtime.read_info(sandbox.paths.state)) == 0
    out = capfd.readouterr().out
    newest = session.listBuilds(packageID=runtime.DEMO_PACKAGE, queryOpts={"order": "-id"})[0]
    shown = out.split("latest-build", 1)[1]
    assert f"{newest['nvr']}  " in shown and runtime.DEST_TAG in shown


def test_repo_url_that_cannot_be_fetched_fails_the_task_with_its_sentence(
    sandbox, session, tmp_path
):
    url = publish(sandbox, tmp_path, "e2e-norepo", dockerfile("e2e-norepo", "1", "true"))
    missing = "http://127.0.0.1:9/missing.repo"  # nothing listens on port 9
    done, task_id = build(sandbox, url, "--repo-url", missing)
    assert done.returncode == 1
    with pytest.raises(koji.GenericError) as failure:
        session.getTaskResult(task_id)
    assert (
        f"The yum repo file {missing} given in yum_repourls (--repo-url) could not be fetched"
        in (str(failure.value))
    )
