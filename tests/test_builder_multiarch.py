"""Multi-arch builds: the parent task, its arch subtasks, one import, against the sandbox hub.

The builder plugin's handlers run as kojid runs them (tests/multiarch_harness.py):
the parent in this (main) thread, waiting in BaseTaskHandler.wait; a
stand-in for the other kojid processes takes each arch subtask on the host
of that arch. Here: the subtasks, the image list and the one import.
"""

from __future__ import annotations

import json
import os

from tests.multiarch_harness import (  # noqa: F401 - fixtures
    ARCHES,
    IMAGE_MEDIA_TYPE,
    NVR,
    OPTS,
    REPO,
    backend,
    build_state,
    children,
    digest_of,
    hub,
    kojid,
    run_parent,
    source,
)


def test_parent_makes_one_subtask_per_arch_with_arch_and_label(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    made = [
        (t["method"], t["arch"], t["label"], t["channel_id"], t["owner"])
        for t in children(kojid, parent)
    ]
    info = kojid.session.getTaskInfo(parent)
    assert made == [
        ("buildContainerArch", arch, arch, info["channel_id"], info["owner"]) for arch in ARCHES
    ]


def test_subtask_arguments_are_source_target_arch_and_the_reserved_release(
    hub, kojid, backend, source
):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    requests = [kojid.session.getTaskRequest(t["id"]) for t in children(kojid, parent)]
    assert requests == [[source, "demo", arch, {**OPTS, "release": "1"}] for arch in ARCHES]


def test_each_arch_subtask_runs_on_the_host_of_its_arch(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    _, hosts = run_parent(hub, kojid, parent)
    assert sorted((host, arch) for host, arch, _ in hosts.ran) == [
        ("builder", "x86_64"),
        ("builder-arm", "aarch64"),
    ]


def test_arch_subtasks_build_one_arch_each_pushed_by_digest(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    built = sorted((r.platforms, r.push_by_digest, r.release) for r in backend.requests)
    assert built == [(["aarch64"], True, "1"), (["x86_64"], True, "1")]


def test_two_arch_build_ends_as_one_koji_build(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    state, _ = run_parent(hub, kojid, parent)
    result = kojid.session.getTaskResult(parent)
    assert (state, result["koji_builds"], build_state(kojid)) == (
        "CLOSED",
        [str(kojid.session.getBuild(NVR)["id"])],
        "COMPLETE",
    )


def test_result_lists_the_platforms_and_the_list_repositories(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    result = kojid.session.getTaskResult(parent)
    assert (result["platforms"], result["repositories"]) == (
        list(ARCHES),
        [f"{REPO}:1.0-1", f"{REPO}@{digest_of('list')}"],
    )


def test_the_list_joins_the_images_the_subtasks_returned(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    [(_, images)] = backend.lists
    assert [(i.arch, i.digests) for i in images] == [
        (arch, {IMAGE_MEDIA_TYPE: digest_of(f"manifest {arch}")}) for arch in ARCHES
    ]


def test_imported_build_has_one_image_output_and_one_buildroot_per_arch(
    hub, kojid, backend, source
):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    build = kojid.session.getBuild(NVR)
    images = kojid.session.listArchives(buildID=build["id"], type="image")
    assert sorted((a["extra"]["image"]["arch"], a["buildroot_id"]) for a in images) == [
        ("aarch64", 2),
        ("x86_64", 1),
    ]


def test_import_metadata_names_each_arch_buildroot(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    metadata_files = [
        os.path.join(root, name)
        for root, _, files in os.walk(os.path.join(hub.workdir, "containerbuild-import"))
        for name in files
        if name == "metadata.json"
    ]
    with open(metadata_files[0], encoding="utf-8") as handle:
        metadata = json.load(handle)
    assert [br["container"]["arch"] for br in metadata["buildroots"]] == list(ARCHES)


def test_each_arch_build_log_is_imported_with_the_build(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    build = kojid.session.getBuild(NVR)
    logs = {entry["name"] for entry in kojid.session.getBuildLogs(build["id"])}
    assert {"x86_64.log", "aarch64.log"} <= logs


def test_single_arch_build_of_this_hosts_arch_makes_no_subtask(hub, kojid, backend, source):
    parent = kojid.submit(source, {**OPTS, "scratch": True, "arch_override": "x86_64"})
    state, _ = run_parent(hub, kojid, parent)
    assert (state, children(kojid, parent), [r.push_by_digest for r in backend.requests]) == (
        "CLOSED",
        [],
        [False],
    )


def test_single_arch_build_of_another_arch_runs_as_its_subtask(hub, kojid, backend, source):
    parent = kojid.submit(source, {**OPTS, "scratch": True, "arch_override": "aarch64"})
    state, hosts = run_parent(hub, kojid, parent)
    assert (state, [(host, arch) for host, arch, _ in hosts.ran]) == (
        "CLOSED",
        [("builder-arm", "aarch64")],
    )


def test_arch_subtask_made_outside_a_parent_is_refused(hub, kojid, backend, source):
    task_id = hub.session("admin").makeTask(
        "buildContainerArch", [source, "demo", "x86_64", OPTS], channel="container", arch="x86_64"
    )
    assert kojid.report(task_id) == "FAILED"


def test_parent_log_names_the_task_of_each_arch(hub, kojid, backend, source):
    parent = kojid.submit(source, OPTS)
    run_parent(hub, kojid, parent)
    text = kojid.session.downloadTaskOutput(parent, "osbs-build.log").decode()
    tasks = {t["arch"]: t["id"] for t in children(kojid, parent)}
    assert [line for line in text.splitlines() if "built by task" in line] == [
        f"{arch}: built by task {tasks[arch]}; its log: koji watch-logs {tasks[arch]}"
        for arch in ARCHES
    ]
