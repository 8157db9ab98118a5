"""The sandbox's read-only web view (sandbox/web*.py) over HTTP, on the sandbox hub.

Tasks are played through the hub's host API (tests/test_cli_watch.StandInBuilder)
and builds imported with CGImport, so the pages show what the hub's API answers.
The browser tests are in tests/e2e/test_web.py.
"""

from __future__ import annotations

import hashlib
import html
import re

import koji
import pytest
import requests

from koji_containerbuild.sandbox.env import demo, layout
from tests.test_cli_watch import StandInBuilder

CG = "koji-containerbuild"
IMAGE = b"image tarball bytes"
LOG = b"STEP 1/2: FROM scratch\n<script>alert('log')</script>\n"
HOSTILE_LABEL = "<script>alert('label')</script>"
SOURCE = "git://git.example.com/containers/demo-image.git#0123abcd"


def get(handle, path: str) -> requests.Response:
    return requests.get(handle.url.rsplit("/", 1)[0] + path, timeout=10)


def visible_text(page: str) -> str:
    """Roughly what a person reads: tags dropped, entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def new_task(hub, opts=None) -> int:
    args = [SOURCE, "demo", dict(opts or {"git_branch": "main"})]
    return hub.call("makeTask", ["buildContainer", args], {"channel": "container"},
                    session_user="admin")  # fmt: skip


def import_build(hub, task_id: int, labels: dict) -> int:
    hub.grant_cg_access("builder", CG)
    builder = hub.session("builder")
    reservation = builder.CGInitBuild(CG, {"name": "demo-image", "version": "1.0", "release": "1"})
    builder.rawUpload(IMAGE, 0, "cg/web", "image-x86_64.tar.gz")
    builder.rawUpload(LOG, 0, "cg/web", "x86_64.log")
    index = {
        "pull": ["127.0.0.1:5000/demo-image@sha256:feed", "127.0.0.1:5000/demo-image:1.0-1"],
        "tags": ["1.0-1", "latest"],
        "floating_tags": ["latest"],
        "unique_tags": [],
        "digests": {"application/vnd.docker.distribution.manifest.v2+json": "sha256:feed"},
    }
    docker = {
        "id": "sha256:c0ffee",
        "digests": {"application/vnd.docker.distribution.manifest.v2+json": "sha256:feed"},
        "config": {"config": {"Labels": labels}},
    }
    metadata = {
        "metadata_version": 0,
        "build": {
            "build_id": reservation["build_id"],
            "name": "demo-image",
            "version": "1.0",
            "release": "1",
            "source": SOURCE,
            "start_time": 1000,
            "end_time": 2000,
            "owner": "alice",
            "task_id": task_id,
            "extra": {"image": {"index": index}, "container_koji_task_id": task_id},
        },
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
                "extra": {"image": {"arch": "x86_64"}, "docker": docker},
            },
            {
                "buildroot_id": 1,
                "filename": "x86_64.log",
                "filesize": len(LOG),
                "arch": "noarch",
                "checksum": hashlib.md5(LOG).hexdigest(),
                "checksum_type": "md5",
                "type": "log",
            },
        ],
    }
    build = builder.CGImport(metadata, "cg/web", token=reservation["token"])
    hub.tag_build("demo-candidate", build["id"])
    return build["id"]


@pytest.fixture
def builder(sandbox_hub):
    return StandInBuilder(sandbox_hub)


@pytest.fixture
def built(sandbox_hub, builder):
    """A closed task with a log that made a Koji build with a hostile label."""
    task_id = new_task(sandbox_hub)
    builder.open(task_id)
    builder.upload(task_id, "x86_64.log", LOG)
    build_id = import_build(sandbox_hub, task_id, {"name": "demo-image", "x": HOSTILE_LABEL})
    result = {
        "repositories": ["127.0.0.1:5000/demo-image:1.0-1"],
        "koji_builds": [str(build_id)],
        "user_warnings": ["Base image is deprecated"],
    }
    builder.close(task_id, result)
    return task_id, build_id


def test_taskinfo_shows_state_owner_request_and_timeline(hub_server, built):
    task_id, _ = built
    page = visible_text(get(hub_server, f"/koji/taskinfo?taskID={task_id}").text)
    for fact in ("CLOSED", "admin", "buildContainer", f"Source {SOURCE}", "git_branch", "Created",
                 "Started", "Finished", "Duration"):  # fmt: skip
        assert fact in page


def test_taskinfo_shows_pull_specs_build_link_and_user_warnings(hub_server, built):
    task_id, build_id = built
    page = get(hub_server, f"/koji/taskinfo?taskID={task_id}").text
    assert (
        '<code class="pullspec" title="pull spec">127.0.0.1:5000/demo-image:1.0-1</code>' in page
    )
    assert f'<a href="buildinfo?buildID={build_id}">demo-image-1.0-1</a>' in page
    assert "Base image is deprecated" in page


def test_failed_task_shows_the_failure_sentence(hub_server, sandbox_hub, builder):
    task_id = new_task(sandbox_hub)
    builder.open(task_id)
    builder.fail(task_id, koji.BuildError("The Dockerfile has no FROM line; add one."))
    page = get(hub_server, f"/koji/taskinfo?taskID={task_id}").text
    assert '<p class="failure" id="failure">The Dockerfile has no FROM line; add one.</p>' in page


def test_log_line_with_script_shows_as_text(hub_server, built):
    task_id, _ = built
    page = get(hub_server, f"/koji/taskinfo?taskID={task_id}").text
    assert "&lt;script&gt;alert(&#x27;log&#x27;)&lt;/script&gt;" in page
    assert "<script>alert(" not in page


def test_label_with_script_shows_as_text(hub_server, built):
    _, build_id = built
    page = get(hub_server, f"/koji/buildinfo?buildID={build_id}").text
    assert "&lt;script&gt;alert(&#x27;label&#x27;)&lt;/script&gt;" in page
    assert "<script>alert(" not in page


def test_task_log_is_linked_under_topurl(hub_server, built):
    task_id, _ = built
    page = get(hub_server, f"/koji/taskinfo?taskID={task_id}").text
    href = f"/kojifiles/work/{koji.pathinfo.taskrelpath(task_id)}/x86_64.log"
    assert f'<a href="{href}">x86_64.log</a>' in page
    assert get(hub_server, href).content == LOG


def test_running_task_page_carries_the_live_tail(hub_server, sandbox_hub, builder):
    task_id = new_task(sandbox_hub)
    builder.open(task_id)
    builder.upload(task_id, "x86_64.log", b"line 1\n")
    page = get(hub_server, f"/koji/taskinfo?taskID={task_id}").text
    assert f'id="live-logs" data-task-id="{task_id}"' in page
    assert 'data-name="x86_64.log" data-offset="7">line 1\n</pre>' in page


def test_finished_task_page_has_no_live_tail(hub_server, built):
    task_id, _ = built
    assert 'id="live-logs"' not in get(hub_server, f"/koji/taskinfo?taskID={task_id}").text


def test_getfile_from_an_offset_answers_the_rest(hub_server, sandbox_hub, builder):
    task_id = new_task(sandbox_hub)
    builder.open(task_id)
    builder.upload(task_id, "x86_64.log", b"line 1\nline 2\n")
    answer = get(hub_server, f"/koji/getfile?taskID={task_id}&name=x86_64.log&offset=7")
    assert answer.content == b"line 2\n"


def test_getfile_refuses_a_path_outside_the_task(hub_server, built):
    task_id, _ = built
    answer = get(hub_server, f"/koji/getfile?taskID={task_id}&name=../../../db.sqlite")
    assert answer.status_code == 404


def test_tasklogs_answers_state_and_log_sizes(hub_server, sandbox_hub, builder):
    task_id = new_task(sandbox_hub)
    builder.open(task_id)
    builder.upload(task_id, "x86_64.log", b"line 1\n")
    answer = get(hub_server, f"/koji/tasklogs?taskID={task_id}").json()
    assert answer == {"state": "OPEN", "finished": False, "logs": {"x86_64.log": 7}}


def test_buildinfo_shows_image_facts(hub_server, built):
    task_id, build_id = built
    page = get(hub_server, f"/koji/buildinfo?buildID={build_id}").text
    for fact in (
        "demo-image-1.0-1",
        "COMPLETE",
        f'<a href="taskinfo?taskID={task_id}">{task_id}</a>',
        '<code class="pullspec" title="pull spec">127.0.0.1:5000/demo-image@sha256:feed</code>',
        "x86_64: <code>sha256:feed</code>",
        "<code>latest</code>",
        f">{html.escape(SOURCE)}</code>",
    ):
        assert fact in page


def test_buildinfo_lists_archives_with_size_and_checksum(hub_server, built):
    _, build_id = built
    page = get(hub_server, f"/koji/buildinfo?buildID={build_id}").text
    href = "/kojifiles/packages/demo-image/1.0/1/images/image-x86_64.tar.gz"
    assert f'<a href="{href}">image-x86_64.tar.gz</a>' in page
    assert f"{len(IMAGE)} bytes" in page
    assert f"md5: <code>{hashlib.md5(IMAGE).hexdigest()}</code>" in page
    assert get(hub_server, href).content == IMAGE


def test_buildinfo_links_the_build_logs(hub_server, built):
    _, build_id = built
    page = get(hub_server, f"/koji/buildinfo?buildID={build_id}").text
    href = "/kojifiles/packages/demo-image/1.0/1/data/logs/x86_64.log"
    assert f'<a href="{href}">x86_64.log</a>' in page
    assert get(hub_server, href).content == LOG


def test_buildinfo_names_the_tags_the_build_is_in(hub_server, sandbox_hub, built):
    _, build_id = built
    tag_id = sandbox_hub.call("getTag", ["demo-candidate"])["id"]
    page = get(hub_server, f"/koji/buildinfo?buildID={build_id}").text
    assert f'<a href="taginfo?tagID={tag_id}">demo-candidate</a>' in page
    assert ">demo-build</a>" not in page


def test_index_lists_recent_tasks_and_builds(hub_server, built):
    task_id, build_id = built
    page = get(hub_server, "/koji/index").text
    assert f'<a href="taskinfo?taskID={task_id}">{task_id}</a>' in page
    assert f'<a href="buildinfo?buildID={build_id}">demo-image-1.0-1</a>' in page


def test_tasks_page_filters_by_state(hub_server, sandbox_hub, built):
    open_task = new_task(sandbox_hub)
    page = get(hub_server, "/koji/tasks?state=free").text
    assert f'<a href="taskinfo?taskID={open_task}">{open_task}</a>' in page
    assert f'<a href="taskinfo?taskID={built[0]}">' not in page


def test_builds_page_lists_builds(hub_server, built):
    _, build_id = built
    page = get(hub_server, "/koji/builds").text
    assert f'<a href="buildinfo?buildID={build_id}">demo-image-1.0-1</a>' in page


def test_packageinfo_shows_tags_and_builds(hub_server, built):
    _, build_id = built
    page = get(hub_server, "/koji/packageinfo?packageID=demo-image").text
    assert ">demo-candidate</a>" in page
    assert f'<a href="buildinfo?buildID={build_id}">demo-image-1.0-1</a>' in page


def test_taginfo_shows_targets_packages_and_tagged_builds(hub_server, built):
    page = visible_text(get(hub_server, "/koji/taginfo?tagID=demo-candidate").text)
    assert "demo demo-build demo-candidate" in page
    assert "demo-image alice no" in page
    assert "demo-image-1.0-1" in page


def test_unknown_task_is_a_404_sentence(hub_server, sandbox_hub):
    answer = get(hub_server, "/koji/taskinfo?taskID=999")
    assert answer.status_code == 404
    assert "There is no task 999 on this hub." in answer.text


def test_task_id_that_is_not_a_number_is_a_400_sentence(hub_server):
    answer = get(hub_server, "/koji/taskinfo?taskID=abc")
    assert answer.status_code == 400
    assert "taskID must be a number, not &#x27;abc&#x27;." in answer.text


def test_post_to_a_page_is_refused(hub_server, built):
    url = hub_server.url.rsplit("/", 1)[0] + f"/koji/taskinfo?taskID={built[0]}"
    answer = requests.post(url, data=b"state=canceled", timeout=10)
    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET, HEAD")


def test_pages_forbid_scripts_from_elsewhere(hub_server):
    policy = get(hub_server, "/koji/index").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy


def test_koji_profile_points_topurl_at_kojifiles(tmp_path):
    paths = layout.Paths(str(tmp_path))
    paths.make()
    layout.write_koji_config(paths, "http://127.0.0.1:8080/kojihub")
    with open(paths.koji_config, encoding="utf-8") as handle:
        text = handle.read()
    assert "topurl = http://127.0.0.1:8080/kojifiles\n" in text


def test_demo_links_open_the_task_and_build_pages(hub_server, sandbox_hub, built):
    task_id, _ = built
    lines = demo.web_links(sandbox_hub.session(), hub_server.url, task_id)
    urls = [line.split()[-1] for line in lines]
    pages = [requests.get(url, timeout=10) for url in urls]
    assert [(p.status_code, p.text.split("<title>")[1].split(" |")[0]) for p in pages] == [
        (200, f"Task {task_id}: buildContainer (noarch)"),
        (200, "Build demo-image-1.0-1"),
    ]


def test_weburl_without_a_slash_redirects_to_the_summary(hub_server):
    base = hub_server.url.rsplit("/", 1)[0]
    answer = requests.get(base + "/koji", timeout=10)
    assert [step.status_code for step in answer.history] == [301]
    assert answer.url == base + "/koji/"


def test_sandbox_status_names_the_web_view(hub_server, capsys, tmp_path):
    from koji_containerbuild.sandbox.__main__ import _print_ready

    info = {"state_dir": str(tmp_path), "hub_url": hub_server.url, "registry": "r", "git_url": "g"}
    _print_ready(info)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  web:"))
    answer = requests.get(line.split()[-1], timeout=10)
    assert "<title>Summary | Koji sandbox</title>" in answer.text


def test_head_of_a_page_answers_headers_only(hub_server, built):
    url = hub_server.url.rsplit("/", 1)[0] + f"/koji/taskinfo?taskID={built[0]}"
    answer = requests.head(url, timeout=10)
    assert (answer.status_code, answer.content) == (200, b"")
