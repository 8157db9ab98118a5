"""The koji commands users run against the sandbox, through the real koji CLI.

One image build goes through the real builder plugin (a one-image backend
stands in for buildah, see test_builder_cg) and is imported and tagged in a
served sandbox hub; each test then runs one ``koji`` command against it as a
user would against a real hub.
"""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.builder import run as taskrun
from koji_containerbuild.sandbox.kojid.taskrun import report_result
from koji_containerbuild.sandbox.kojihub.server import serve
from tests.builder_harness import DOCKERFILE, Kojid, write_builder_config
from tests.cli_harness import KojiCLI
from tests.git_fixture import GitSources
from tests.hub_setup import make_sandbox_hub
from tests.test_builder_cg import ImageBuildingBackend

NVR = "demo-image-1.0-1"


class Built:
    """The served hub after one successful build task, and a CLI talking to it."""

    def __init__(self, hub, server, cli, task_id, tmp):
        self.hub = hub
        self.server = server
        self.cli = cli
        self.task_id = task_id
        self.tmp = tmp

    def koji(self, *args, **kwargs):
        done = self.cli.run(*args, **kwargs)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="session")
def built(tmp_path_factory, git_server):
    tmp = tmp_path_factory.mktemp("koji-commands")
    hub = make_sandbox_hub(str(tmp / "koji"))
    server = serve(hub)
    with pytest.MonkeyPatch.context() as patch:
        config = write_builder_config(str(tmp / "builder.conf"), "local")
        patch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
        hub.grant_cg_access("builder", "koji-containerbuild")
        kojid = Kojid(hub, str(tmp / "kojid-work"))
        backend = ImageBuildingBackend(str(tmp), kojid.session)
        patch.setattr(taskrun, "create_backend", lambda name, settings: backend)
        (tmp / "git-scratch").mkdir()
        source = GitSources(git_server, str(tmp / "git-scratch")).publish(
            "demo-image", {"Dockerfile": DOCKERFILE}
        )
        task_id = kojid.submit(source, {"git_branch": "main"})
        kojid.take(task_id)
        report_result(kojid.session, kojid.handler(task_id))
    cli = KojiCLI(tmp, server.url, topurl=server.topurl)
    yield Built(hub, server, cli, task_id, tmp)
    server.stop()
    hub.db.close()


def test_the_build_task_succeeded(built):
    assert koji.TASK_STATES[built.hub.call("getTaskInfo", [built.task_id])["state"]] == "CLOSED"


def test_buildinfo_shows_the_build_its_tag_and_image_archive(built):
    out = built.koji("buildinfo", NVR)
    assert "State: COMPLETE" in out
    assert "Tags: demo-candidate" in out
    assert "/packages/demo-image/1.0/1/images/fake-1.tar" in out


def test_buildinfo_of_a_missing_build_says_so(built):
    done = built.cli.run("buildinfo", "nope-1-1")
    assert (done.returncode, done.stderr.strip()) == (1, "No such build: nope-1-1")


def test_list_builds_of_type_image_lists_the_build(built):
    assert NVR in built.koji("list-builds", "--type=image", "--quiet").split()


def test_list_tagged_lists_the_build_in_the_destination_tag(built):
    assert built.koji("list-tagged", "--quiet", "demo-candidate").split()[:2] == [
        NVR,
        "demo-candidate",
    ]


def test_latest_build_shows_the_build(built):
    assert built.koji("latest-build", "--quiet", "demo-candidate", "demo-image").split()[0] == NVR


def test_taskinfo_names_the_build_and_the_task_logs(built):
    out = built.koji("taskinfo", str(built.task_id))
    assert f"Build: {NVR}" in out
    assert f"/work/tasks/{built.task_id}/{built.task_id}/x86_64.log" in out


def test_list_task_output_names_the_task_logs(built):
    out = built.koji("call", "listTaskOutput", str(built.task_id))
    assert "'x86_64.log'" in out


def test_download_logs_writes_the_task_logs(built, tmp_path):
    built.koji("download-logs", str(built.task_id), cwd=str(tmp_path))
    path = tmp_path / "kojilogs" / f"noarch-{built.task_id}" / "x86_64.log"
    assert "STEP 2/2" in path.read_text()


def test_watch_logs_prints_the_logs_of_the_task(built):
    assert "STEP 1/2: FROM scratch" in built.koji("watch-logs", str(built.task_id))


def test_watch_task_reports_success(built):
    out = built.koji("watch-task", str(built.task_id))
    assert "buildContainer (noarch) completed successfully" in out


def test_list_tasks_lists_the_build_task(built):
    out = built.koji("list-tasks", "--quiet", "--all", "--after", "2000-01-01")
    assert out.split()[:1] == [str(built.task_id)]


def test_download_build_fetches_the_image_archive(built, tmp_path):
    built.koji("download-build", "--type=image", NVR, cwd=str(tmp_path))
    assert (tmp_path / "fake-1.tar").read_bytes() == b"not really an image archive"


def test_call_get_build_logs_lists_the_build_logs(built):
    out = built.koji("call", "--json-output", "getBuildLogs", NVR)
    assert '"path": "packages/demo-image/1.0/1/data/logs/x86_64.log"' in out


def test_cancel_cancels_an_open_task(built):
    task_id = built.hub.session("alice").buildContainer(
        "git://127.0.0.1/demo-image#abc", "demo", {"git_branch": "main"}
    )
    built.koji("cancel", str(task_id))
    assert koji.TASK_STATES[built.hub.call("getTaskInfo", [task_id])["state"]] == "CANCELED"


def test_cancel_of_another_users_task_is_refused(built):
    built.hub.add_user("bob", "bob")
    task_id = built.hub.session("alice").buildContainer(
        "git://127.0.0.1/demo-image#abc", "demo", {"git_branch": "main"}
    )
    done = built.cli.run("cancel", str(task_id), user="bob")
    assert "Cannot cancel task, not owner" in done.stderr
