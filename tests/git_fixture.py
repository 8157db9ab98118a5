"""pytest plugin: a git:// server on loopback with repositories made by tests.

koji.daemon.SCM only takes SCM URLs (git://, git+https://, ...), not file://,
so builder tests serve their sources with ``git daemon``. The root conftest
loads this plugin; the ``git_sources`` fixture returns a :class:`GitSources`
whose ``publish(name, files)`` commits the files and returns ``git://127.0.0.1:PORT/<name>#<sha>``.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from koji_containerbuild.sandbox.env.gitserve import GitServer


class GitSources:
    def __init__(self, server: GitServer, scratch_dir: str) -> None:
        self.server = server
        self.scratch_dir = scratch_dir

    def publish(
        self, name: str, files: dict[str, str], symlinks: dict[str, str] | None = None
    ) -> str:
        """Commit ``files`` (path -> text) and ``symlinks`` (path -> link target)
        as the whole content of repository ``name``."""
        source = tempfile.mkdtemp(dir=self.scratch_dir)
        for path, text in files.items():
            full = os.path.join(source, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as handle:
                handle.write(text)
        for path, target in (symlinks or {}).items():
            full = os.path.join(source, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            os.symlink(target, full)
        commit = self.server.publish(name, source)
        return f"{self.server.repo_url(name)}#{commit}"


@pytest.fixture(scope="session")
def git_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("git-repos")
    server = GitServer(str(base), log_path=str(base / "git-daemon.log"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def git_sources(git_server, tmp_path):
    scratch = tmp_path / "git-scratch"
    scratch.mkdir()
    return GitSources(git_server, str(scratch))
