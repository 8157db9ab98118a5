"""The corpus of hostile requests through the CLI (cli/commands.py): the real ``koji`` command.

Each row is one input and a key phrase of the ONE sentence that refuses it:
exit status 2, the sentence on stderr, no traceback, nothing sent; a refusal
by the hub after submission exits 1.
"""

from __future__ import annotations

import pytest

from koji_containerbuild.config import HUB_CONFIG_ENV
from tests.cli_harness import SOURCE, hub_tasks
from tests.hostile_requests_harness import MAX_SENTENCES

# -- CLI ---------------------------------------------------------------------------

BRANCH = ["--git-branch", "main"]


# (id, command arguments, key phrase of the sentence on stderr)
CLI_CASES = [
    (
        "userdata nested 100000 deep",
        ["container-build", "demo", SOURCE, *BRANCH, "--userdata", "[" * 100000],
        "--userdata is nested more than 32 levels deep",
    ),
    (
        "userdata with NaN",
        ["container-build", "demo", SOURCE, *BRANCH, "--userdata", '{"a": NaN}'],
        "--userdata holds NaN or Infinity",
    ),
    (
        "userdata with -Infinity",
        ["container-build", "demo", SOURCE, *BRANCH, "--userdata", '{"a": -Infinity}'],
        "--userdata holds NaN or Infinity",
    ),
    (
        "IPv6-like SCM URL",
        ["container-build", "demo", "git://[::1/containers/app.git#abc", *BRANCH],
        "is not a valid SCM URL (Invalid IPv6 URL)",
    ),
    (
        "SCM URL with a space",
        ["container-build", "demo", "git://127.0.0.1/a b.git#abc", *BRANCH],
        "contains spaces, control or non-ASCII characters",
    ),
    (
        "100 KB SCM URL",
        ["container-build", "demo", "git://127.0.0.1/" + "a" * 100000 + "#abc", *BRANCH],
        "is longer than the 4096 characters an SCM URL may have",
    ),
    (
        "compose id past int32",
        ["container-build", "demo", SOURCE, *BRANCH, "--compose-id", str(2**31)],
        "--compose-id must be a list of ODCS compose ids",
    ),
    (
        "dependency replacement without the PM:NAME:VERSION form",
        ["container-build", "demo", SOURCE, *BRANCH, "--replace-dependency", "nonsense"],
        "--replace-dependency has 'nonsense', which is not",
    ),
    (
        "100 KB git branch",
        ["container-build", "demo", SOURCE, "--git-branch", "b" * 100000],
        "--git-branch is 100000 characters long, more than the 256 allowed",
    ),
    (
        "git branch with a byte that is not UTF-8",
        ["container-build", "demo", SOURCE, "--git-branch", b"ma\xffin"],
        "--git-branch has 'ma\\udcffin', which contains control or non-printable characters",
    ),
    (
        "101 repo URLs",
        ["container-build", "demo", SOURCE, *BRANCH]
        + ["--repo-url=https://example.com/a.repo"] * 101,
        "--repo-url has 101 items, more than the 100 allowed",
    ),
    (
        "300-character arch list",
        ["container-build", "demo", SOURCE, *BRANCH, "--scratch", "--arch-override", "x" * 300],
        "--arch-override is 300 characters long",
    ),
    (
        "300-character target",
        ["container-build", "t" * 300, SOURCE, *BRANCH],
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "300-character channel",
        ["container-build", "demo", SOURCE, *BRANCH, "--channel-override", "c" * 300],
        "is longer than the 256 characters a Koji channel name may have",
    ),
    (
        "source build id past int32",
        ["source-container-build", "demo", "--koji-build-id", str(2**31)],
        "--koji-build-id must be the id of a Koji image build",
    ),
]


@pytest.mark.parametrize(
    ("args", "phrase"), [case[1:] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES]
)
def test_hostile_cli_input_is_a_usage_error_and_sends_nothing(koji_cli, sandbox_hub, args, phrase):
    result = koji_cli.run(*args)
    assert result.returncode == 2, result.stderr[:MAX_SENTENCES]
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < MAX_SENTENCES
    assert hub_tasks(sandbox_hub) == []


def test_refusal_by_the_hub_after_submission_exits_one(
    koji_cli, sandbox_hub, tmp_path, monkeypatch
):
    # Nothing the CLI can check: the hub's configured channel does not exist.
    config = tmp_path / "hub_containerbuild.conf"
    config.write_text("[channels]\nbuildContainer = nowhere\n")
    monkeypatch.setenv(HUB_CONFIG_ENV, str(config))
    result = koji_cli.run("container-build", "demo", SOURCE, *BRANCH, "--nowait")
    assert result.returncode == 1, result.stderr
    assert "the hub refused the build: The channel 'nowhere'" in result.stderr
    assert hub_tasks(sandbox_hub) == []
