"""Stand-in for the `kojihub` package, for hub plugins loaded by the SandboxHub.

Only the sandbox puts this directory on sys.path. Every function keeps the
real hub's signature and delegates to the SandboxHub serving the current call.
"""

from __future__ import annotations

import koji
from koji.context import context

from koji_containerbuild.sandbox.kojihub import api_builds, api_core, api_tags, api_tasks
from koji_containerbuild.sandbox.kojihub.api_base import current

__all__ = [
    "HostExports",
    "RootExports",
    "assert_policy",
    "check_policy",
    "convert_value",
    "get_build",
    "get_build_target",
    "get_channel",
    "get_channel_id",
    "get_tag",
    "get_tag_id",
    "get_user",
    "lookup_package",
    "lookup_perm",
    "make_task",
    "policy_data_from_task_args",
]


def make_task(method, arglist, **opts):
    """kojihub.make_task: opts channel, priority, arch, parent, label, owner, assign."""
    known = ("channel", "priority", "arch", "parent", "label", "owner", "assign")
    return api_tasks.make_task(method, arglist, **{k: v for k, v in opts.items() if k in known})


def policy_data_from_task_args(method, arglist):
    return api_tasks.task_policy_data(method, arglist)


def get_build_target(info, event=None, strict=False):
    return api_tags.getBuildTarget(info, event=event, strict=strict)


def get_tag(tagInfo, strict=False, event=None, blocked=False):
    return api_tags.getTag(tagInfo, strict=strict, event=event, blocked=blocked)


def get_tag_id(info, strict=False, create=False):
    row = api_tags.tag_row(info, strict=strict)
    return row["id"] if row else None


def get_user(userInfo=None, strict=False, krb_princs=True, groups=False):
    return api_core.getUser(userInfo, strict=strict, krb_princs=krb_princs, groups=groups)


def get_channel(channelInfo, strict=False):
    return api_core.getChannel(channelInfo, strict=strict)


def get_channel_id(info, strict=False, create=False):
    row = api_core.channel_row(info, strict=strict)
    return row["id"] if row else None


def get_build(buildInfo, strict=False):
    return api_builds.getBuild(buildInfo, strict=strict)


def lookup_package(info, strict=True, create=False):
    return api_tags.getPackage(info, strict=strict, create=create)


def lookup_perm(info, strict=False, create=False):
    """{'id', 'name'} of a permission; create=True adds a new one as the real hub does."""
    db = current().db
    column = "id" if isinstance(info, int) else "name"
    row = db.one(f"SELECT id, name FROM permissions WHERE {column} = ?", (info,))
    if row is None and create and isinstance(info, str):
        with db.write() as cnx:
            cnx.execute("INSERT INTO permissions (name) VALUES (?)", (info,))
        row = db.one("SELECT id, name FROM permissions WHERE name = ?", (info,))
    if row is None and strict:
        raise koji.GenericError(f"No such entry in table permissions: {info}")
    return row


def check_policy(name, data, default="deny", strict=False, force=False):
    """(allowed, reason) for a policy, as kojihub.check_policy answers."""
    result = current().evaluate_policy(name, data) or default
    verdict, _, reason = result.partition(" ")
    allowed = verdict == "allow"
    if strict and not allowed:
        raise koji.ActionNotAllowed(
            f"policy violation ({name})" + (f": {reason}" if reason else "")
        )
    return allowed, reason


def assert_policy(name, data, default="deny", force=False):
    check_policy(name, data, default=default, strict=True, force=force)


def convert_value(
    value,
    cast=None,
    message=None,
    exc_type=koji.ParameterError,
    none_allowed=False,
    check_only=False,
):
    """kojihub.convert_value: cast a client value or raise ParameterError."""
    if value is None:
        if not none_allowed:
            raise exc_type(message or f"Invalid type, expected type {cast}")
        return value
    try:
        new_value = cast(value)
    except Exception:
        raise exc_type(
            message or f"Invalid type for value '{value}': {type(value)}, expected type {cast}"
        ) from None
    if check_only:
        if not isinstance(value, cast) or new_value != value:
            raise exc_type(
                message or f"Invalid type for value '{value}': {type(value)}, expected type {cast}"
            )
        return value
    return new_value


class _Exports:
    _prefix = ""

    def __getattr__(self, name):
        func = current().exports.get(self._prefix + name)
        if func is None:
            raise AttributeError(name)
        return func


class RootExports(_Exports):
    """RootExports().getBuild(...) as hub code sometimes calls it."""


class HostExports(_Exports):
    _prefix = "host."


# plugins sometimes reach the request context through the kojihub module
context = context
