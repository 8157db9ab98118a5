"""The sandbox git daemon serves committed directories over git://."""

from __future__ import annotations

import subprocess

import pytest

from koji_containerbuild.sandbox.env.gitserve import GitServer


@pytest.fixture
def git_server(tmp_path):
    server = GitServer(str(tmp_path / "repos"), log_path=str(tmp_path / "git.log"))
    server.start()
    yield server
    server.stop()


def test_published_commit_can_be_cloned_over_git_protocol(git_server, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text("FROM scratch\n")
    commit = git_server.publish("image", str(source))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", git_server.repo_url("image"), str(clone)], check=True)
    head = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    assert head.stdout.strip() == commit
    assert (clone / "Dockerfile").read_text() == "FROM scratch\n"


def test_publish_replaces_the_previous_content(git_server, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "old.txt").write_text("old")
    (second / "new.txt").write_text("new")
    git_server.publish("image", str(first))
    commit = git_server.publish("image", str(second))
    listed = subprocess.run(
        ["git", "-C", git_server.repo_path("image"), "ls-tree", "--name-only", commit],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert listed.stdout.split() == ["new.txt"]
    assert git_server.scm_url("image", commit) == f"{git_server.url}/image#{commit}"
