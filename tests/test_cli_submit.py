"""The CLI commands' submissions: what reaches the hub as task request and options.

Run through the real `koji` command (tests/cli_harness.py) against the
sandbox hub with the real hub plugin.
"""

from __future__ import annotations

import koji

from tests.cli_harness import SOURCE, WEBURL, hub_tasks, task_request
from tests.rpkg_opts import fedpkg_opts

# ---------------------------------------------------------------- submissions


def test_submission_with_every_build_flag_stores_normalised_opts(koji_cli, sandbox_hub):
    result = koji_cli.run(
        "container-build",
        "demo",
        SOURCE,
        "--git-branch",
        "main",
        "--isolated",
        "--arch-override",
        "x86_64",
        "--release",
        "2.1",
        "--koji-parent-build",
        "base-image-1.0-1",
        "--repo-url",
        "http://repos.example.com/a.repo",
        "--repo-url",
        "https://repos.example.com/b.repo",
        "--replace-dependency",
        "gomod:example.com/x:v1.2.3",
        "--replace-dependency",
        "pip:requests:2.31.0",
        "--userdata",
        '{"team": "platform"}',
        "--operator-csv-modifications-url",
        "https://example.com/csv.json",
        "--signing-intent",
        "release",
        "--background",
        "--nowait",
        user="admin",
    )
    assert result.returncode == 0, result.stderr
    (task,) = hub_tasks(sandbox_hub)
    assert f"Created task: {task['id']}" in result.stdout
    assert f"{WEBURL}/taskinfo?taskID={task['id']}" in result.stdout
    assert task_request(sandbox_hub, task["id"]) == [
        SOURCE,
        "demo",
        {
            "git_branch": "main",
            "isolated": True,
            "arch_override": "x86_64",
            "release": "2.1",
            "koji_parent_build": "base-image-1.0-1",
            "yum_repourls": [
                "http://repos.example.com/a.repo",
                "https://repos.example.com/b.repo",
            ],
            "dependency_replacements": ["gomod:example.com/x:v1.2.3", "pip:requests:2.31.0"],
            "userdata": {"team": "platform"},
            "operator_csv_modifications_url": "https://example.com/csv.json",
            "signing_intent": "release",
        },
    ]
    assert task["priority"] == koji.PRIO_DEFAULT + 5
    assert task["method"] == "buildContainer"


def test_scratch_compose_ids_and_channel_override(koji_cli, sandbox_hub):
    sandbox_hub.add_channel("container-test")
    result = koji_cli.run(
        "container-build",
        "demo",
        SOURCE,
        "--git-branch=main",
        "--scratch",
        "--arch-override",
        "x86_64, aarch64",
        "--compose-id",
        "11",
        "--compose-id",
        "12",
        "--channel-override",
        "container-test",
        "--nowait",
        user="admin",
    )
    assert result.returncode == 0, result.stderr
    (task,) = hub_tasks(sandbox_hub)
    assert task_request(sandbox_hub, task["id"])[2] == {
        "git_branch": "main",
        "scratch": True,
        "arch_override": "x86_64 aarch64",
        "compose_ids": [11, 12],
    }
    channel = sandbox_hub.call("getChannel", ["container-test"], {})
    assert task["channel_id"] == channel["id"]
    assert task["priority"] == koji.PRIO_DEFAULT


def test_flatpak_build_sends_flatpak_true(koji_cli, sandbox_hub):
    result = koji_cli.run("flatpak-build", "demo", SOURCE, "--git-branch", "f40", "--nowait")
    assert result.returncode == 0, result.stderr
    (task,) = hub_tasks(sandbox_hub)
    assert task_request(sandbox_hub, task["id"])[2] == {"git_branch": "f40", "flatpak": True}


def test_source_container_build_sends_build_id_and_nvr(koji_cli, sandbox_hub):
    result = koji_cli.run(
        "source-container-build",
        "demo",
        "--koji-build-id",
        "42",
        "--koji-build-nvr",
        "demo-image-1.0-1",
        "--signing-intent",
        "release",
        "--scratch",
        "--nowait",
    )
    assert result.returncode == 0, result.stderr
    (task,) = hub_tasks(sandbox_hub)
    assert task["method"] == "buildSourceContainer"
    assert task_request(sandbox_hub, task["id"]) == [
        "demo",
        {
            "koji_build_id": 42,
            "koji_build_nvr": "demo-image-1.0-1",
            "signing_intent": "release",
            "scratch": True,
        },
    ]


def test_fedpkg_style_call_creates_one_task_with_normalised_opts(hub_server, sandbox_hub):
    # rpkg 1.70 sends every optional key, unset ones as None/False, and no channel.
    session = koji.ClientSession(hub_server.url, {"user": "alice", "password": "alice"})
    session.login()
    task_id = session.buildContainer(
        SOURCE, "demo", fedpkg_opts(arch_override=None), priority=None
    )
    session.logout()
    assert [task["id"] for task in hub_tasks(sandbox_hub)] == [task_id]
    assert task_request(sandbox_hub, task_id)[2] == {"git_branch": "rawhide"}


def test_channel_override_refused_by_hub_for_plain_user(koji_cli, sandbox_hub):
    sandbox_hub.add_channel("elsewhere")
    result = koji_cli.run(
        "container-build",
        "demo",
        SOURCE,
        "--git-branch",
        "main",
        "--channel-override",
        "elsewhere",
        "--nowait",
    )
    assert result.returncode == 1
    assert "the hub refused the build" in result.stderr
    assert "Traceback" not in result.stderr
    assert hub_tasks(sandbox_hub) == []
