"""Plumbing shared by the sandbox hub's API modules.

Hub API functions keep the real hub's signatures (clients send keyword
arguments by name), so they cannot take the hub as a parameter: the hub serving
the current call is kept in a thread-local, as the real hub keeps its
request state in koji.context.
"""

from __future__ import annotations

import datetime
import threading
from typing import TYPE_CHECKING, Callable

import koji

if TYPE_CHECKING:
    from koji_containerbuild.sandbox.kojihub.hub import SandboxHub

#: RPC name -> function, filled by @export in the API modules.
EXPORTS: dict[str, Callable] = {}

_current = threading.local()


def export(name: str | None = None) -> Callable:
    def register(func: Callable) -> Callable:
        EXPORTS[name or func.__name__] = func
        return func

    return register


def current() -> SandboxHub:
    """The SandboxHub serving the call running in this thread."""
    hub = getattr(_current, "hub", None)
    if hub is None:
        raise koji.GenericError("no sandbox hub call in progress")
    return hub


def set_current(hub: SandboxHub | None) -> SandboxHub | None:
    previous = getattr(_current, "hub", None)
    _current.hub = hub
    return previous


def fault_for(exc: BaseException) -> koji.Fault:
    """The Fault a real hub answers for an exception raised by a call."""
    if isinstance(exc, koji.Fault):
        return exc
    code = getattr(type(exc), "faultCode", 1)
    text = str(exc) if isinstance(exc, koji.GenericError) else f"{type(exc)}: {exc}"
    return koji.Fault(code, text)


def format_ts(ts: float | None) -> str | None:
    """Timestamps as the hub's timestamptz columns render them."""
    if ts is None:
        return None
    return str(datetime.datetime.fromtimestamp(ts, datetime.timezone.utc))


class HubSession:
    """What koji.context.context.session offers hub code and plugins."""

    def __init__(
        self,
        user: dict | None = None,
        perms=(),
        session_id=None,
        key=None,
        callnum=None,
        host_id=None,
    ):
        self.logged_in = user is not None
        self.id = session_id
        self.key = key
        self.callnum = callnum
        self.user_id = user["id"] if user else None
        self.user_data = {k: user[k] for k in ("id", "name", "status", "usertype")} if user else {}
        self.perms = {name: True for name in perms}
        self.hostip = "127.0.0.1"
        self.authtype = koji.AUTHTYPES["NORMAL"] if user else None
        self.exclusive = False
        self.master = None
        self.message = ""
        self._host_id = host_id

    def assertLogin(self) -> None:
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")

    def getPerms(self) -> list[str]:
        return list(self.perms) if self.logged_in else []

    def hasPerm(self, name: str) -> bool:
        return self.logged_in and name in self.perms

    def assertPerm(self, name: str) -> None:
        if not self.hasPerm(name) and not self.hasPerm("admin"):
            msg = f"{name} permission required"
            if self.logged_in:
                msg += f" (logged in as {self.user_data['name']})"
            else:
                msg += " (user not logged in)"
            raise koji.ActionNotAllowed(msg)

    def hasGroup(self, group_id) -> bool:
        return False

    def isUser(self, user_id) -> bool:
        return self.logged_in and self.user_id == user_id

    def assertUser(self, user_id) -> None:
        if not self.isUser(user_id) and not self.hasPerm("admin"):
            raise koji.ActionNotAllowed("not owner")

    def getUserId(self, username):
        row = current().db.one("SELECT id FROM users WHERE name = ?", (username,))
        return row["id"] if row else None

    def getHostId(self):
        return self._host_id

    def getConnInfo(self):
        return None


def require_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise koji.ParameterError(f"Invalid type for {what}: {value!r}")
    return value


def refuse_non_host(session: HubSession) -> None:
    """Refuse a caller that is not a host, with the AuthError kojihub's Host() raises."""
    if session.logged_in:
        raise koji.AuthError(f"User {session.user_id} is not a host")
    raise koji.AuthError("Not logged-in")
