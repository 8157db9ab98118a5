"""SCM URL rules and checkouts through koji.daemon.SCM against a real git daemon."""

import os
import subprocess
from types import SimpleNamespace

import koji
import pytest

from koji_containerbuild.source import SourceError, check_scm_url, checkout
from tests.conftest import open_task

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


@pytest.fixture
def app(git_sources):
    """Repository ``app`` with two commits, served by git daemon on loopback."""
    first = git_sources.publish("app", {"Dockerfile": "FROM scratch\nLABEL version=1\n"})
    second = git_sources.publish("app", {"Dockerfile": "FROM scratch\nLABEL version=2\n"})
    repo_url, first = first.split("#")
    return SimpleNamespace(repo_url=repo_url, first=first, second=second.split("#")[1])


@pytest.fixture
def builder(sandbox_hub):
    """kojid's session: the builder host of the sandbox hub."""
    return sandbox_hub.session("builder")


@pytest.fixture
def task(sandbox_hub):
    """A task whose output the checkout log is uploaded to, as kojid does."""
    task_id = open_task(sandbox_hub)
    return SimpleNamespace(id=task_id, upload_path=koji.pathinfo.taskrelpath(task_id))


def uploaded(sandbox_hub, task) -> list[str]:
    return sorted(sandbox_hub.session().listTaskOutput(task.id))


def kojid_options(allowed="127.0.0.1*:/app", use_policy=False):
    return SimpleNamespace(
        allowed_scms=allowed, allowed_scms_use_config=True, allowed_scms_use_policy=use_policy
    )


def _checkout(server, tmp_path, revision, options, session, policy_data=None, upload_path=None):
    workdir = tmp_path / "scm"
    workdir.mkdir()
    return checkout(
        f"{server.repo_url}#{revision}",
        str(workdir),
        session,
        upload_path or "tasks/1/1",
        str(tmp_path / "checkout.log"),
        options,
        policy_data or {},
    )


def _head(path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_checkout_of_an_allowed_source_returns_the_tree_at_the_revision(
    app, tmp_path, builder, sandbox_hub, task
):
    options = kojid_options()
    sourcedir = _checkout(app, tmp_path, app.first, options, builder, None, task.upload_path)
    with open(os.path.join(sourcedir, "Dockerfile")) as dockerfile:
        assert dockerfile.read().endswith("version=1\n")
    assert _head(sourcedir) == app.first
    assert uploaded(sandbox_hub, task) == ["checkout.log"]


def test_checkout_log_in_the_task_output_shows_each_git_command(
    app, tmp_path, builder, sandbox_hub, task
):
    _checkout(app, tmp_path, app.first, kojid_options(), builder, None, task.upload_path)
    log = sandbox_hub.session().downloadTaskOutput(task.id, "checkout.log")
    commands = [line for line in log.decode().splitlines() if line[:2] == "$ "]
    assert [c.split()[1:3] for c in commands] == [
        ["git", "clone"],
        ["git", "fetch"],
        ["git", "reset"],
    ]


def test_checkout_of_a_shortened_revision_falls_back_to_reset(app, tmp_path, builder):
    sourcedir = _checkout(app, tmp_path, app.first[:10], kojid_options(), builder)
    assert _head(sourcedir) == app.first


def test_checkout_refused_by_allowed_scms_runs_nothing(app, tmp_path, builder, sandbox_hub, task):
    options = kojid_options(allowed="git.example.com:/*")
    with pytest.raises(SourceError) as caught:
        _checkout(app, tmp_path, app.second, options, builder, None, task.upload_path)
    assert "is not in this builder's allowed SCMs (allowed_scms in kojid.conf)" in str(
        caught.value
    )
    assert os.listdir(tmp_path / "scm") == []
    assert uploaded(sandbox_hub, task) == []


def test_checkout_refused_by_a_block_entry(app, tmp_path, builder):
    options = kojid_options(allowed="!127.0.0.1*:/app *:/*")
    with pytest.raises(SourceError, match="allowed SCMs"):
        _checkout(app, tmp_path, app.second, options, builder)


def test_checkout_refused_by_the_build_from_scm_policy(app, tmp_path, builder, sandbox_hub):
    # refused only if the policy saw the task's data and the SCM host
    sandbox_hub.set_policy(
        "build_from_scm",
        "bool scratch && compare user_id = 7 && match scm_host 127.0.0.1:* "
        ":: deny containers from elsewhere\nall :: allow",
    )
    data = {"scratch": True, "channel": "container", "user_id": 7}
    with pytest.raises(SourceError) as caught:
        _checkout(app, tmp_path, app.second, kojid_options(use_policy=True), builder, data)
    assert "build_from_scm policy" in str(caught.value)
    assert "containers from elsewhere" in str(caught.value)
    assert os.listdir(tmp_path / "scm") == []


def test_checkout_allowed_by_policy_never_fetches_a_common_repo(
    app, tmp_path, builder, sandbox_hub, task
):
    # "allow use_common" would make koji.daemon.SCM clone <repo>/../common, which
    # does not exist here: the checkout only succeeds if that step is skipped.
    sandbox_hub.set_policy("build_from_scm", "all :: allow use_common")
    options = kojid_options(use_policy=True)
    sourcedir = _checkout(app, tmp_path, app.second, options, builder, None, task.upload_path)
    assert _head(sourcedir) == app.second


def test_checkout_of_a_missing_revision_is_a_source_error(app, tmp_path, builder, task):
    with pytest.raises(SourceError, match=r"Could not check out .*revision exists"):
        _checkout(app, tmp_path, "f" * 40, kojid_options(), builder, None, task.upload_path)


def test_checkout_refuses_a_url_without_revision_before_anything_else(
    tmp_path, builder, sandbox_hub, task
):
    with pytest.raises(SourceError, match="has no '#revision'"):
        checkout(
            "git://127.0.0.1/app",
            str(tmp_path),
            builder,
            task.upload_path,
            str(tmp_path / "checkout.log"),
            kojid_options(),
            {},
        )
    assert uploaded(sandbox_hub, task) == []
