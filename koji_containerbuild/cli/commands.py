"""The koji CLI commands container-build, flatpak-build and source-container-build.

The plugin file cli/cli_containerbuild.py only forwards to the functions here, so
the command logic is importable and testable without the koji CLI script.

Every check that can run on the client runs before anything is sent: option
values go through the same schema the hub and the builder use, the target and
its destination tag are looked up, and a refusal exits with status 2 (as
optparse does for usage errors) without creating a task. A refusal by the hub
after the call was sent exits with status 1, like a failed task.
"""

from __future__ import annotations

import sys
from optparse import SUPPRESS_HELP
from typing import Any, Callable

import koji
from koji_cli.lib import (
    OptionParser,
    _running_in_bg,
    activate_session,
    get_usage_str,
)

from koji_containerbuild.bounds import name_problem, priority_problem, quote
from koji_containerbuild.cli import watch as cli_watch
from koji_containerbuild.options import OptionsError, normalize_build_opts, normalize_source_opts
from koji_containerbuild.optnames import koji_cli_spelling
from koji_containerbuild.source import SourceError, check_scm_url
from koji_containerbuild.targets import TargetError, dest_tag_of

#: Priority koji's own `build --background` uses (relative to koji.PRIO_DEFAULT).
BACKGROUND_PRIORITY = 5

#: Exit status for a usage error, the same optparse uses.
USAGE_ERROR = 2
#: Exit status when the hub refused the call or the task did not succeed.
FAILED = 1

_CONTAINER_USAGE = """\
usage: %prog container-build [options] <target> <scm url>

Build a layered container image from the Dockerfile in <scm url>, which must
name a revision: git://host/repo#<commit>. The image lands in the target's
destination tag unless --scratch is given."""

_FLATPAK_USAGE = """\
usage: %prog flatpak-build [options] <target> <scm url>

Build a Flatpak container from the container.yaml in <scm url>, which must name
a revision: git://host/repo#<commit>."""

_SOURCE_USAGE = """\
usage: %prog source-container-build [options] <target>

Build a source container image holding the sources of an existing image build,
named with --koji-build-nvr and/or --koji-build-id."""


def _add_common_options(parser: OptionParser, goptions: Any) -> None:
    """Flags shared by all three commands: how to submit and how to watch."""
    parser.add_option("--scratch", action="store_true", help="Perform a scratch build")
    parser.add_option(
        "--signing-intent",
        metavar="INTENT",
        help="Signing intent of the ODCS composes (cannot be used with --compose-id)",
    )
    parser.add_option(
        "--userdata",
        metavar="JSON",
        help='JSON object of custom metadata stored with the build, e.g. \'{"team": "x"}\'',
    )
    parser.add_option(
        "--channel-override",
        metavar="CHANNEL",
        help="Run the task in this channel instead of the hub's default "
        "(usually 'container'; other channels need admin or the hub's configured permission)",
    )
    parser.add_option(
        "--background", action="store_true", help="Run the build at a lower priority"
    )
    parser.add_option(
        "--wait", action="store_true", help="Wait on the build, even if running in the background"
    )
    parser.add_option("--nowait", action="store_false", dest="wait", help="Don't wait on build")
    parser.add_option(
        "--quiet",
        action="store_true",
        default=getattr(goptions, "quiet", False),
        help="Do not print the task information",
    )
    parser.add_option(
        "--json",
        action="store_true",
        help="Print the outcome as one JSON object on stdout (progress goes to stderr)",
    )
    parser.add_option(
        "--follow-logs",
        action="store_true",
        help="Stream the task's logs while it runs (implies waiting)",
    )


def build_parser(goptions: Any, *, flatpak: bool = False) -> OptionParser:
    """Option parser for container-build, or flatpak-build when flatpak is set."""
    parser = OptionParser(usage=get_usage_str(_FLATPAK_USAGE if flatpak else _CONTAINER_USAGE))
    parser.add_option(
        "--git-branch", metavar="BRANCH", help="Git branch the revision belongs to (required)"
    )
    if not flatpak:
        parser.add_option(
            "--isolated", action="store_true", help="Perform an isolated build of a release"
        )
        parser.add_option("--release", help="Release of the image (else taken from Dockerfile)")
        parser.add_option(
            "--koji-parent-build",
            metavar="NVR",
            help="Use the image of this Koji build as the parent image",
        )
    parser.add_option(
        "--arch-override",
        metavar="ARCHES",
        help="Build only these arches, comma or space separated (scratch or isolated only)",
    )
    parser.add_option(
        "--repo-url",
        dest="yum_repourls",
        metavar="URL",
        action="append",
        help="URL of a .repo file for the build; may be used multiple times",
    )
    parser.add_option(
        "--compose-id",
        dest="compose_ids",
        metavar="ID",
        action="append",
        type="int",
        help="ODCS compose to use; may be used multiple times (not with --signing-intent)",
    )
    parser.add_option(
        "--replace-dependency",
        dest="dependency_replacements",
        metavar="PKG_MANAGER:NAME:VERSION[:NEW_NAME]",
        action="append",
        help="Cachito dependency replacement; may be used multiple times",
    )
    parser.add_option(
        "--operator-csv-modifications-url",
        metavar="URL",
        help="URL of a JSON file with operator CSV modifications (isolated builds only)",
    )
    # Old clients knew --skip-build; accept it so the schema can say it is gone.
    parser.add_option("--skip-build", action="store_true", help=SUPPRESS_HELP)
    _add_common_options(parser, goptions)
    return parser


def source_parser(goptions: Any) -> OptionParser:
    """Option parser for source-container-build."""
    parser = OptionParser(usage=get_usage_str(_SOURCE_USAGE))
    parser.add_option(
        "--koji-build-id",
        type="int",
        metavar="ID",
        help="Koji build id of the image whose sources to build",
    )
    parser.add_option(
        "--koji-build-nvr",
        metavar="NVR",
        help="NVR of the Koji image build whose sources to build",
    )
    _add_common_options(parser, goptions)
    return parser


def _check_wait_flags(parser: OptionParser, values: Any) -> None:
    if values.follow_logs and values.wait is False:
        parser.error("--follow-logs needs to watch the task; drop --nowait.")


def parse_build_args(
    goptions: Any, args: list[str], *, flatpak: bool = False
) -> tuple[Any, str, str, dict]:
    """Parse container-build/flatpak-build arguments into (values, target, source, opts).

    opts is already normalised by the shared schema; any problem exits with a
    usage error (status 2) naming the option and the fix.
    """
    parser = build_parser(goptions, flatpak=flatpak)
    values, positional = parser.parse_args(args)
    if len(positional) != 2:
        parser.error(
            "Exactly two arguments are required: a build target and an SCM URL "
            "with a revision (git://host/repo#commit)."
        )
    target, source = positional
    _check_wait_flags(parser, values)
    source_problems = []
    try:
        check_scm_url(source)
    except SourceError as exc:
        source_problems.append(str(exc))
    opts: dict[str, Any] = {
        "scratch": values.scratch,
        "git_branch": values.git_branch,
        "yum_repourls": values.yum_repourls,
        "compose_ids": values.compose_ids,
        "signing_intent": values.signing_intent,
        "dependency_replacements": values.dependency_replacements,
        "operator_csv_modifications_url": values.operator_csv_modifications_url,
        # JSON text: the schema reads it (depth, NaN, size) as the hub would.
        "userdata": values.userdata,
        "skip_build": values.skip_build,
        "arch_override": values.arch_override,
    }
    if flatpak:
        opts["flatpak"] = True
    else:
        opts["isolated"] = values.isolated
        opts["release"] = values.release
        opts["koji_parent_build"] = values.koji_parent_build
    return values, target, source, _normalized(parser, normalize_build_opts, opts, source_problems)


def parse_source_args(goptions: Any, args: list[str]) -> tuple[Any, str, dict]:
    """Parse source-container-build arguments into (values, target, opts)."""
    parser = source_parser(goptions)
    values, positional = parser.parse_args(args)
    if len(positional) != 1:
        parser.error("Exactly one argument is required: a build target.")
    _check_wait_flags(parser, values)
    opts = {
        "scratch": values.scratch,
        "koji_build_id": values.koji_build_id,
        "koji_build_nvr": values.koji_build_nvr,
        "signing_intent": values.signing_intent,
        "userdata": values.userdata,
    }
    return values, positional[0], _normalized(parser, normalize_source_opts, opts)


def _normalized(
    parser: OptionParser,
    normalize: Callable[[dict], dict],
    opts: dict,
    problems: list[str] | None = None,
) -> dict:
    """The schema's normal form of opts; every problem (with `problems`) in one usage error."""
    problems = list(problems or [])
    normal: dict = {}
    try:
        normal = normalize(opts)
    except OptionsError as exc:
        problems.extend(flag_names(problem) for problem in exc.problems)
    if problems:
        parser.error(" ".join(problems))
    return normal


def flag_names(sentence: str) -> str:
    """Name options as the user typed them: 'arch_override' -> --arch-override."""
    return koji_cli_spelling(sentence)


class UsageError(Exception):
    """A refusal found after parsing (target, tag); reported like a usage error."""


def check_target(session: Any, target: str, scratch: bool) -> None:
    """Refuse unknown targets and non-scratch builds into a locked destination tag."""
    problem = name_problem("target", "build target", target, "run 'koji list-targets'")
    if problem:
        raise UsageError(problem)
    build_target = session.getBuildTarget(target)
    if not build_target:
        raise UsageError(
            f"Unknown build target {quote(target)}; run 'koji list-targets' to see the targets."
        )
    try:
        dest_tag = dest_tag_of(session, target, build_target)
    except TargetError as error:
        raise UsageError(str(error)) from None
    if dest_tag.get("locked") and not scratch:
        raise UsageError(
            f"The destination tag {dest_tag['name']!r} is locked; "
            "use --scratch or ask a Koji admin to unlock it."
        )


def _submit_kwargs(values: Any) -> dict:
    """priority and channel for the call, checked with the hub's own rules."""
    kwargs: dict[str, Any] = {}
    if values.background:
        kwargs["priority"] = BACKGROUND_PRIORITY
    if values.channel_override:
        kwargs["channel"] = values.channel_override
    problem = priority_problem(kwargs.get("priority")) or (
        name_problem("channel", "channel", kwargs["channel"], "run 'koji list-channels'")
        if "channel" in kwargs
        else None
    )
    if problem:
        raise UsageError(flag_names(problem))
    return kwargs


def _run(
    goptions: Any,
    session: Any,
    values: Any,
    target: str,
    scratch: bool,
    submit: Callable[[dict], int],
) -> int:
    """Log in, check the target, submit, then watch unless told not to."""
    progress = sys.stderr if values.json else sys.stdout
    activate_session(session, goptions)
    try:
        kwargs = _submit_kwargs(values)
        check_target(session, target, scratch)
    except UsageError as exc:
        print(f"koji: error: {cli_watch.terminal_safe(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    try:
        task_id = submit(kwargs)
    except koji.GenericError as exc:  # ParameterError, ActionNotAllowed, ... from the hub
        reason = cli_watch.terminal_safe(str(exc).strip())
        print(f"koji: error: the hub refused the build: {reason}", file=sys.stderr)
        return FAILED
    weburl = getattr(goptions, "weburl", None) or ""
    if not values.quiet:
        print(f"Created task: {task_id}", file=progress)
        print(f"Task info: {cli_watch.task_url(weburl, task_id)}", file=progress)
        progress.flush()
    wait = values.wait or values.follow_logs or (values.wait is None and not _running_in_bg())
    if not wait:
        if values.json:
            url = cli_watch.task_url(weburl, task_id)
            cli_watch.print_json({"task_id": task_id, "task_url": url})
        return 0
    return cli_watch.watch_and_report(goptions, session, task_id, values)


def container_build(goptions: Any, session: Any, args: list[str], *, flatpak: bool = False) -> int:
    """`koji container-build` (and `flatpak-build` with flatpak=True)."""
    values, target, source, opts = parse_build_args(goptions, args, flatpak=flatpak)
    return _run(
        goptions,
        session,
        values,
        target,
        bool(opts.get("scratch")),
        lambda kwargs: session.buildContainer(source, target, opts, **kwargs),
    )


def source_container_build(goptions: Any, session: Any, args: list[str]) -> int:
    """`koji source-container-build`."""
    values, target, opts = parse_source_args(goptions, args)
    return _run(
        goptions,
        session,
        values,
        target,
        bool(opts.get("scratch")),
        lambda kwargs: session.buildSourceContainer(target, opts, **kwargs),
    )
