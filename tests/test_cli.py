"""The CLI commands' parsing: help, usage errors, and checks made before submitting.

Run through the real `koji` command (tests/cli_harness.py); a usage error must
end with exit status 2, one clear sentence, and no task on the hub.
"""

from __future__ import annotations

import pytest

from tests.cli_harness import COMMANDS, SOURCE, hub_tasks

# ---------------------------------------------------------------- help


def test_help_lists_the_three_commands_under_build(offline_cli):
    result = offline_cli.run("help", "build")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith(" ")}
    assert set(COMMANDS) <= listed


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_exits_zero(offline_cli, command):
    result = offline_cli.run(command, "--help")
    assert result.returncode == 0
    assert "--scratch" in result.stdout and "--json" in result.stdout


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--git-branch", "main", "--userdata", "{not json"], "--userdata is not valid JSON"),
        (["--git-branch", "main", "--userdata", "[1, 2]"], "--userdata"),
        (["--git-branch", "main", "--scratch", "--isolated"], "--scratch and --isolated"),
        (["--git-branch", "main", "--arch-override", "x86_64"], "--arch-override"),
        (["--scratch"], "--git-branch is required"),
        (["--git-branch", "main", "--compose-id", "x"], "--compose-id"),
        (
            ["--git-branch", "main", "--compose-id", "3", "--signing-intent", "release"],
            "--signing-intent and --compose-id",
        ),
        (["--git-branch", "main", "--repo-url", "ftp://example.com/a.repo"], "--repo-url"),
        (
            ["--git-branch", "main", "--operator-csv-modifications-url", "https://e.com/x"],
            "--operator-csv-modifications-url",
        ),
        (["--git-branch", "main", "--release", "1-2"], "--release"),
        (
            ["--git-branch", "main", "--isolated", "--release", "6"],
            "Option --release '6' is not an isolated release",
        ),
        (["--git-branch", "main", "--release", "1%{dist}"], "Option --release '1%{dist}'"),
        (["--git-branch", "main", "--skip-build"], "--skip-build is no longer supported"),
        (["--git-branch", "main", "--follow-logs", "--nowait"], "--follow-logs"),
    ],
)
def test_invalid_build_options_are_usage_errors_and_send_nothing(
    koji_cli, sandbox_hub, args, says
):
    result = koji_cli.run("container-build", "demo", SOURCE, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert hub_tasks(sandbox_hub) == []


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("https://git.example.com/demo.git#abc", "not an SCM URL"),
        ("git://git.example.com/demo.git", "#"),
    ],
)
def test_bad_source_is_a_usage_error(koji_cli, sandbox_hub, source, says):
    result = koji_cli.run("container-build", "demo", source, "--git-branch", "main")
    assert result.returncode == 2
    assert says in result.stderr
    assert hub_tasks(sandbox_hub) == []


def test_all_problems_of_one_call_are_reported_together(offline_cli):
    result = offline_cli.run(
        "container-build", "demo", "https://example.com/x.git", "--scratch", "--isolated"
    )
    assert result.returncode == 2
    assert "not an SCM URL" in result.stderr
    assert "--git-branch is required" in result.stderr
    assert "--scratch and --isolated" in result.stderr


def test_wrong_number_of_arguments_is_a_usage_error(offline_cli):
    result = offline_cli.run("container-build", "demo")
    assert result.returncode == 2
    assert "Exactly two arguments" in result.stderr


def test_source_build_needs_a_build_id_or_nvr(offline_cli):
    result = offline_cli.run("source-container-build", "demo")
    assert result.returncode == 2
    assert "--koji-build-id and --koji-build-nvr" in result.stderr


def test_unknown_target_is_refused_before_submitting(koji_cli, sandbox_hub):
    result = koji_cli.run("container-build", "no-such-target", SOURCE, "--git-branch", "main")
    assert result.returncode == 2
    assert "Unknown build target 'no-such-target'" in result.stderr
    assert hub_tasks(sandbox_hub) == []


def test_locked_destination_tag_refuses_non_scratch_build(koji_cli, sandbox_hub):
    sandbox_hub.add_tag("locked-candidate", arches=None, locked=True)
    sandbox_hub.add_target("locked", "demo-build", "locked-candidate")
    result = koji_cli.run("container-build", "locked", SOURCE, "--git-branch", "main")
    assert result.returncode == 2
    assert "'locked-candidate' is locked" in result.stderr
    assert hub_tasks(sandbox_hub) == []


def test_locked_destination_tag_accepts_scratch_build(koji_cli, sandbox_hub):
    sandbox_hub.add_tag("locked-candidate", arches=None, locked=True)
    sandbox_hub.add_target("locked", "demo-build", "locked-candidate")
    result = koji_cli.run(
        "container-build", "locked", SOURCE, "--git-branch", "main", "--scratch", "--nowait"
    )
    assert result.returncode == 0, result.stderr
    assert len(hub_tasks(sandbox_hub)) == 1


# ---------------------------------------------------------------- parsing, no hub


def test_flag_names_replace_option_keys_with_flags():
    from koji_containerbuild.cli.commands import flag_names

    sentence = "Options 'signing_intent' and 'compose_ids' cannot be used together."
    assert flag_names(sentence) == (
        "Options --signing-intent and --compose-id cannot be used together."
    )
