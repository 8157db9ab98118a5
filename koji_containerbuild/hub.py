"""Hub-side rules for submitting container builds, kept out of the hub plugin file.

The plugin passes in the ``kojihub`` module and ``context.session``, so these
rules are testable without a hub and the plugin stays a few lines. Nothing
invalid becomes a task: every check runs before ``make_task``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Callable

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.bounds import name_problem, priority_problem, quote
from koji_containerbuild.config import HubConfig, load_hub_config
from koji_containerbuild.configvalues import ConfigError
from koji_containerbuild.options import OptionsError, normalize_build_opts, normalize_source_opts
from koji_containerbuild.source import SourceError, check_scm_url

log = logging.getLogger(LOGGER_NAME + ".hub")

BUILD_CONTAINER = "buildContainer"
BUILD_SOURCE_CONTAINER = "buildSourceContainer"


def hub_config(path: str | None = None) -> HubConfig:
    """Read the plugin config on each call; a broken file fails only these calls."""
    try:
        return load_hub_config(path)
    except ConfigError as error:
        log.error("Container build plugin config refused: %s", error)
        raise koji.GenericError(
            f"The container build plugin's config is broken ({error}): ask a Koji admin to fix it."
        ) from None


def build_container(
    hub: Any,
    session: Any,
    config: HubConfig,
    src: Any,
    target: Any,
    opts: Any = None,
    priority: Any = None,
    channel: Any = None,
) -> int:
    """buildContainer: check everything, then create the task; returns its id."""
    _assert_may_build(session, config)
    problems = _source_problems(src)
    problems += _target_problems(hub, target)
    normal = _options(normalize_build_opts, opts, problems)
    return _submit(
        hub, session, config, BUILD_CONTAINER, [src, target, normal], priority, channel, problems
    )


def build_source_container(
    hub: Any,
    session: Any,
    config: HubConfig,
    target: Any,
    opts: Any = None,
    priority: Any = None,
    channel: Any = None,
) -> int:
    """buildSourceContainer: check everything, then create the task; returns its id."""
    _assert_may_build(session, config)
    problems = _target_problems(hub, target)
    normal = _options(normalize_source_opts, opts, problems)
    return _submit(
        hub, session, config, BUILD_SOURCE_CONTAINER, [target, normal], priority, channel, problems
    )


def _submit(
    hub: Any,
    session: Any,
    config: HubConfig,
    method: str,
    arglist: list,
    priority: Any,
    channel: Any,
    problems: list[str],
) -> int:
    default_channel = config.channels[method]
    problems += _priority_problems(priority) + _channel_problems(hub, channel, default_channel)
    if problems:
        raise koji.ParameterError(" ".join(problems))
    if channel is not None and channel != default_channel:
        _assert_may_choose_channel(session, config, default_channel)
    task_opts = {"channel": channel or default_channel}
    if priority is not None:
        if priority < 0 and not session.hasPerm("admin"):
            raise koji.ActionNotAllowed(
                "Only admins may give a container build a negative (higher) priority: "
                "use a priority of 0 or more."
            )
        task_opts["priority"] = koji.PRIO_DEFAULT + priority
    task_id = hub.make_task(method, arglist, **task_opts)
    log.info(
        "%s task %s created by %s in channel %s",
        method,
        task_id,
        _user_name(session),
        task_opts["channel"],
    )
    return task_id


def _assert_may_build(session: Any, config: HubConfig) -> None:
    session.assertLogin()
    permission = config.build_permission
    if not permission:
        return
    try:
        session.assertPerm(permission)  # the permission or admin
    except koji.ActionNotAllowed:
        raise koji.ActionNotAllowed(
            f"Submitting container builds needs the '{permission}' permission: ask a Koji "
            "admin to grant it to you."
        ) from None


def _assert_may_choose_channel(session: Any, config: HubConfig, default_channel: str) -> None:
    if session.hasPerm("admin"):
        return
    permission = config.channel_permission
    if permission and session.hasPerm(permission):
        return
    who = f"admins and users with the '{permission}' permission" if permission else "admins"
    raise koji.ActionNotAllowed(
        f"Only {who} may send container builds to another channel than "
        f"'{default_channel}': submit without a channel override."
    )


def _source_problems(src: Any) -> list[str]:
    try:
        check_scm_url(src)
    except SourceError as error:
        return [str(error)]
    return []


def _target_problems(hub: Any, target: Any) -> list[str]:
    problem = name_problem("target", "build target", target, "pick one from 'koji list-targets'")
    if problem:
        return [problem]
    if not hub.get_build_target(target):
        return [
            f"The build target {quote(target)} does not exist: pick one from 'koji list-targets'."
        ]
    return []


def _options(normalize: Callable[[Any], dict], opts: Any, problems: list[str]) -> dict:
    if opts is not None and not isinstance(opts, Mapping):
        problems.append(f"The options must be a struct (dict) of option names, not {quote(opts)}.")
        return {}
    try:
        return normalize(opts)
    except OptionsError as error:
        problems.extend(error.problems)
        return {}


def _priority_problems(priority: Any) -> list[str]:
    problem = priority_problem(priority)
    return [problem] if problem else []


def _channel_problems(hub: Any, channel: Any, default_channel: str) -> list[str]:
    if channel is None:
        if hub.get_channel(default_channel):
            return []
        return [
            f"The channel {default_channel!r} that container builds run in does not exist on "
            f"this hub: ask a Koji admin to create it ('koji add-host-to-channel HOST "
            f"{default_channel} --new')."
        ]
    problem = name_problem("channel", "channel", channel, "pick one from 'koji list-channels'")
    if problem:
        return [problem]
    if not hub.get_channel(channel):
        return [
            f"The channel {quote(channel)} does not exist: pick one from 'koji list-channels'."
        ]
    return []


def _user_name(session: Any) -> str:
    user_data = getattr(session, "user_data", None) or {}
    return user_data.get("name") or f"user {getattr(session, 'user_id', '?')}"
