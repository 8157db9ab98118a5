"""SCM URL rules and checkouts through koji.daemon.SCM against a real git daemon."""

import os
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest

from koji_containerbuild.source import SourceError, check_scm_url, checkout

VALID_URLS = [
    "git://pkgs.example.com/containers/app#0123abcd",
    "git+https://pkgs.example.com/containers/app.git#0123abcd",
    "git+http://pkgs.example.com/app#main",
    "git+ssh://builder@pkgs.example.com/containers/app#0123abcd",
    "git://pkgs.example.com/containers/app?subdir#0123abcd",
]


@pytest.mark.parametrize("url", VALID_URLS)
def test_scm_urls_with_a_revision_are_accepted(url):
    check_scm_url(url)


INVALID_URLS = [
    ("https://pkgs.example.com/app#0123", "is not an SCM URL: use one of the schemes"),
    ("/srv/git/app#0123", "is not an SCM URL"),
    ("git://pkgs.example.com/app", "has no '#revision'"),
    ("git://pkgs.example.com/app#", "has no '#revision'"),
    ("git://pkgs.example.com#0123", "is not a valid SCM URL"),
    ("git+https://u:secret@pkgs.example.com/app#0123", "is not a valid SCM URL"),
    ("", "must be an SCM URL"),
    (None, "must be an SCM URL"),
    (42, "must be an SCM URL"),
]


@pytest.mark.parametrize(("url", "fragment"), INVALID_URLS)
def test_other_sources_are_refused_with_a_sentence(url, fragment):
    with pytest.raises(SourceError) as caught:
        check_scm_url(url)
    message = str(caught.value)
    assert fragment in message
    assert message.endswith(".")
    assert "\n" not in message


def test_url_refusal_suggests_the_revision_form():
    with pytest.raises(SourceError, match=r"like 'git://h/app#<commit>'"):
        check_scm_url("git://h/app")


class FakeBuilderSession:
    """The parts of kojid's ClientSession that koji.daemon.SCM uses."""

    def __init__(self, policy_result="allow"):
        self.opts = {}
        self.uploads = []
        self.policy_calls = []
        self.policy_result = policy_result

    def _forget(self):
        pass

    def uploadFile(self, path, name, size, digest, offset, data):
        self.uploads.append((path, name, offset, size))
        return True

    def evalPolicy(self, name, data):
        self.policy_calls.append((name, data))
        return self.policy_result


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _git(*args, cwd):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    """A bare repository with two commits served by `git daemon` on loopback."""
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    _git("config", "user.email", "dev@example.com", cwd=work)
    _git("config", "user.name", "Dev", cwd=work)
    (work / "Dockerfile").write_text("FROM scratch\nLABEL version=1\n")
    _git("add", "Dockerfile", cwd=work)
    _git("commit", "-q", "-m", "first", cwd=work)
    first = _git("rev-parse", "HEAD", cwd=work)
    (work / "Dockerfile").write_text("FROM scratch\nLABEL version=2\n")
    _git("commit", "-q", "-am", "second", cwd=work)
    second = _git("rev-parse", "HEAD", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(root / "app.git"), cwd=root)
    port = _free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={root}",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield SimpleNamespace(
            repo_url=f"git://127.0.0.1:{port}/app.git", first=first, second=second
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def kojid_options(allowed="127.0.0.1*:/app.git", use_policy=False):
    return SimpleNamespace(
        allowed_scms=allowed, allowed_scms_use_config=True, allowed_scms_use_policy=use_policy
    )


def _checkout(server, tmp_path, revision, options, session, policy_data=None):
    workdir = tmp_path / "scm"
    workdir.mkdir()
    return checkout(
        f"{server.repo_url}#{revision}",
        str(workdir),
        session,
        "tasks/1/1",
        str(tmp_path / "checkout.log"),
        options,
        policy_data or {},
    )


def test_checkout_of_an_allowed_source_returns_the_tree_at_the_revision(git_server, tmp_path):
    session = FakeBuilderSession()
    sourcedir = _checkout(git_server, tmp_path, git_server.first, kojid_options(), session)
    with open(os.path.join(sourcedir, "Dockerfile")) as dockerfile:
        assert dockerfile.read().endswith("version=1\n")
    assert _git("rev-parse", "HEAD", cwd=sourcedir) == git_server.first
    assert {name for _, name, _, _ in session.uploads} == {"checkout.log"}


def test_checkout_refused_by_allowed_scms_runs_nothing(git_server, tmp_path):
    session = FakeBuilderSession()
    options = kojid_options(allowed="git.example.com:/*")
    with pytest.raises(SourceError) as caught:
        _checkout(git_server, tmp_path, git_server.second, options, session)
    assert "is not in this builder's allowed SCMs (allowed_scms in kojid.conf)" in str(
        caught.value
    )
    assert os.listdir(tmp_path / "scm") == []
    assert session.uploads == []


def test_checkout_refused_by_a_block_entry(git_server, tmp_path):
    options = kojid_options(allowed="!127.0.0.1*:/app.git *:/*")
    with pytest.raises(SourceError, match="allowed SCMs"):
        _checkout(git_server, tmp_path, git_server.second, options, FakeBuilderSession())


def test_checkout_refused_by_the_build_from_scm_policy(git_server, tmp_path):
    session = FakeBuilderSession(policy_result="deny containers from elsewhere")
    options = kojid_options(use_policy=True)
    data = {"scratch": True, "channel": "container", "user_id": 7}
    with pytest.raises(SourceError) as caught:
        _checkout(git_server, tmp_path, git_server.second, options, session, data)
    assert "build_from_scm policy" in str(caught.value)
    assert "containers from elsewhere" in str(caught.value)
    [(policy, sent)] = session.policy_calls
    assert policy == "build_from_scm"
    assert sent["scratch"] is True
    assert sent["user_id"] == 7
    assert sent["scm_host"].startswith("127.0.0.1:")
    assert os.listdir(tmp_path / "scm") == []


def test_checkout_allowed_by_policy_never_fetches_a_common_repo(git_server, tmp_path):
    # "allow use_common" would make koji.daemon.SCM clone <repo>/../common, which
    # does not exist here: the checkout only succeeds if that step is skipped.
    session = FakeBuilderSession(policy_result="allow use_common")
    options = kojid_options(use_policy=True)
    sourcedir = _checkout(git_server, tmp_path, git_server.second, options, session)
    assert _git("rev-parse", "HEAD", cwd=sourcedir) == git_server.second


def test_checkout_of_a_missing_revision_is_a_source_error(git_server, tmp_path):
    with pytest.raises(SourceError, match=r"Could not check out .*revision exists"):
        _checkout(git_server, tmp_path, "f" * 40, kojid_options(), FakeBuilderSession())


def test_checkout_refuses_a_url_without_revision_before_anything_else(tmp_path):
    session = FakeBuilderSession()
    with pytest.raises(SourceError, match="has no '#revision'"):
        checkout(
            "git://127.0.0.1/app.git",
            str(tmp_path),
            session,
            "tasks/1/1",
            str(tmp_path / "checkout.log"),
            kojid_options(),
            {},
        )
    assert session.uploads == []
