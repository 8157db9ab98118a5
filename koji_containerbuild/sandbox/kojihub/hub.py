"""SandboxHub: a small Koji hub (SQLite state, Koji API, real hub plugins).

A development and test fixture, never a production hub. Calls are dispatched
the way kojixmlrpc does it: koji.context.context carries the session, options
and method; plugin files are loaded with koji.plugin.PluginTracker and their
@export functions become RPCs next to the built-in API. What an admin sets up
before the first call (users, hosts, tags, targets) is in :mod:`.admin`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from typing import Any, Callable

import koji
import koji.plugin
import koji.policy
import koji.util
from koji.context import context

from koji_containerbuild.config import HUB_CONFIG_OF_CALL

# the API modules register their RPCs in api_base.EXPORTS when imported
from koji_containerbuild.sandbox.kojihub import (
    api_archives,  # noqa: F401
    api_base,
    api_builds,  # noqa: F401
    api_core,  # noqa: F401
    api_host,  # noqa: F401
    api_maketask,  # noqa: F401
    api_tagging,  # noqa: F401
    api_tags,  # noqa: F401
    api_tasks,  # noqa: F401
    cg_import,  # noqa: F401
    uploads,  # noqa: F401
)
from koji_containerbuild.sandbox.kojihub import policy as sandbox_policy
from koji_containerbuild.sandbox.kojihub.admin import AdminSetup
from koji_containerbuild.sandbox.kojihub.api_base import HubSession, fault_for
from koji_containerbuild.sandbox.kojihub.state import Database

logger = logging.getLogger("koji.plugin.containerbuild.sandbox.hub")

STANDINS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standins")

#: hub.conf options a plugin might read through context.opts
HUB_OPTIONS = {
    "KojiDebug": False,
    "KojiTraceback": None,
    "EnableMaven": False,
    "EnableWin": False,
    "DisableNotifications": True,
    "MaxNameLengthInternal": 256,
    "RegexNameInternal": r"^[A-Za-z0-9/_.+-]+$",
    "RegexUserName": r"^[A-Za-z0-9/_.@-]+$",
}


#: The policies of the sandbox's hub.conf, written as an admin writes them:
#: kojihub's default channel policy, and build_from_scm open to every user
#: (kojihub's default lets only admins build from SCM).
DEFAULT_POLICIES = {
    "channel": "has req_channel :: req\nis_child_task :: parent\nall :: use default",
    "build_from_scm": "all :: allow",
}


class SandboxHub(AdminSetup):
    """The hub stand-in; :class:`AdminSetup` sets up users, tags, targets and the like."""

    def __init__(self, topdir: str, hub_plugins: list[str] | tuple = ()):
        self.topdir = os.path.abspath(topdir)
        self.workdir = os.path.join(self.topdir, "work")
        self.packagesdir = os.path.join(self.topdir, "packages")
        os.makedirs(self.workdir, exist_ok=True)
        self.db = Database(os.path.join(self.topdir, "db.sqlite"))
        self.exports: dict[str, Callable] = dict(api_base.EXPORTS)
        self.exports["multiCall"] = self._multi_call
        self.callbacks: dict[str, list[Callable]] = {}
        self.policies: dict[str, koji.policy.SimpleRuleSet] = {}
        for name, rules in DEFAULT_POLICIES.items():
            self.set_policy(name, rules)
        self.opts = dict(HUB_OPTIONS)
        self.offline_reason: str | None = None
        self.plugins: dict[str, Any] = {}
        #: this hub's plugin config file (None: the environment's or the default)
        self.plugin_config: str | None = None
        #: called when a task is made, freed or cancelled, or a subtask ends
        self.task_listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.add_channel("default")
        self.add_channel("createrepo")
        for path in hub_plugins:
            self.load_plugin(path)

    def notify_task_change(self) -> None:
        """Tell the listeners (the sandbox's workers) that a host may have work.

        kojid finds new and cancelled tasks only by polling the hub; a worker
        told here polls at once instead of at the end of its interval. What
        it then reads and does is the same.
        """
        for listener in list(self.task_listeners):
            try:
                listener()
            except Exception:
                logger.exception("A task listener failed")

    # ------------------------------------------------------------ plugins

    def load_plugin(self, path: str) -> None:
        """Load a hub plugin file as kojixmlrpc does; a failure takes the hub offline."""
        if STANDINS_DIR not in sys.path:
            sys.path.insert(0, STANDINS_DIR)
        directory, filename = os.path.split(os.path.abspath(path))
        name = os.path.splitext(filename)[0]
        tracker = koji.plugin.PluginTracker(path=directory)
        try:
            module = tracker.load(name, reload=True)
        except Exception as exc:
            logger.exception("Loading hub plugin %s failed", path)
            self.offline_reason = f"plugin {name} failed to load: {exc}"
            return
        self.plugins[name] = module
        for value in vars(module).values():
            if isinstance(value, type) or not callable(value):
                continue
            if getattr(value, "exported", False):
                alias = getattr(value, "export_alias", None) or value.__name__
                self.exports[alias] = value
            for cbtype in getattr(value, "callbacks", None) or ():
                self.callbacks.setdefault(cbtype, []).append(value)

    def run_callbacks(self, cbtype: str, **kws: Any) -> None:
        """koji.plugin.run_callbacks over this hub's plugins.

        As in kojihub, a callback that raises fails the call it runs in (a
        CallbackError carrying the traceback) unless it is marked ignore_error.
        """
        if cbtype not in koji.plugin.callbacks:
            raise koji.PluginError(f'"{cbtype}" is not a valid callback type')
        for func in self.callbacks.get(cbtype, ()):
            try:
                func(cbtype, **kws)
            except Exception:
                message = f"Error running {cbtype} callback from {func.__module__}"
                if getattr(func, "failure_is_an_option", False):
                    logging.getLogger("koji.plugin").warning(message, exc_info=True)
                else:
                    raise koji.CallbackError(f"{message}:\n{traceback.format_exc()}") from None

    # ------------------------------------------------------------ dispatch

    def session_from_credentials(self, session_id, key, callnum=None) -> HubSession:
        """The login session behind Koji-Session-Id/Key, as kojihub's auth checks it."""
        try:
            session_id = int(session_id)
        except (TypeError, ValueError):
            raise koji.AuthError(f"Invalid session id: {session_id!r}") from None
        row = self.db.one("SELECT * FROM sessions WHERE id = ? AND key = ?", (session_id, key))
        if row is None:
            raise koji.AuthError("Invalid session or bad credentials")
        if row["expired"]:
            raise koji.AuthExpired(f'session "{session_id}" has expired')
        user = self.db.one("SELECT * FROM users WHERE id = ?", (row["user_id"],))
        if user["status"] != koji.USER_STATUS["NORMAL"]:
            raise koji.AuthError("logins by {} are not allowed".format(user["name"]))
        return self._session_for(user, session_id, key, callnum, master=row["master"])

    def _session_for(
        self, user: dict, session_id=None, key=None, callnum=None, master=None
    ) -> HubSession:
        perms = api_core_user_perms(self, user["id"])
        host = self.db.one("SELECT id FROM hosts WHERE user_id = ?", (user["id"],))
        session = HubSession(
            user, perms, session_id, key, callnum, host_id=host["id"] if host else None
        )
        session.master = master
        return session

    def dispatch(self, method: str, args, kwargs, session: HubSession | None) -> Any:
        """Run one RPC with the hub context set; exceptions propagate to the caller."""
        return self._run(method, None, args, kwargs, session)

    def dispatch_raw(self, func: Callable, args, kwargs, session: HubSession | None) -> Any:
        """Run a handler that is not an RPC (the rawUpload POST) with the hub context set."""
        return self._run("rawUpload", func, args, kwargs, session)

    def _run(self, method, func, args, kwargs, session) -> Any:
        saved = dict(context.__dict__)
        previous = api_base.set_current(self)
        plugin_config = HUB_CONFIG_OF_CALL.set(self.plugin_config)
        context.session = session or HubSession()
        context.opts = self.opts
        context.method = method
        context.handlers = self
        try:
            if self.offline_reason is not None:
                raise koji.ServerOffline("server startup error")
            if func is None:
                func = self.exports.get(method)
                if func is None:
                    raise koji.GenericError(f"Invalid method: {method}")
            return koji.util.call_with_argcheck(func, args, kwargs)
        finally:
            HUB_CONFIG_OF_CALL.reset(plugin_config)
            api_base.set_current(previous)
            context._threadclear()
            context.__dict__.update(saved)

    def call(self, method: str, args=(), kwargs=None, *, session_user: str | None = None):
        """Call an RPC as `session_user` (None: anonymous), without marshalling."""
        session = self._user_session(session_user)
        return self.dispatch(method, tuple(args), dict(kwargs or {}), session)

    def run_as(self, user: str | None, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run hub-side code (a plugin's rules) as `user` inside a call's context."""
        session = self._user_session(user)
        return self._run(getattr(func, "__name__", "run_as"), func, args, kwargs, session)

    def _user_session(self, name: str | None) -> HubSession | None:
        if name is None:
            return None
        user = self.db.one("SELECT * FROM users WHERE name = ?", (name,))
        if user is None:
            raise koji.GenericError(f"No such user: {name!r}")
        return self._session_for(user)

    def _multi_call(self, calls):
        if getattr(context, "in_multicall", False):
            raise koji.GenericError("multicall is not allowed inside a multicall")
        results = []
        session = context.session
        context.in_multicall = True
        try:
            for call in calls:
                try:
                    if not isinstance(call, dict):
                        raise koji.GenericError(f"Invalid multicall entry: {call!r}")
                    params, opts = koji.decode_args(*call.get("params", ()))
                    result = self.dispatch(call.get("methodName"), params, opts, session)
                    results.append([result])
                except Exception as exc:
                    fault = fault_for(exc)
                    results.append(
                        {"faultCode": fault.faultCode, "faultString": fault.faultString}
                    )
        finally:
            context.in_multicall = False
        return results

    def session(self, user: str | None = None, **opts):
        """A ClientSession look-alike calling this hub in-process, logged in as `user`."""
        from koji_containerbuild.sandbox.kojihub.session import InProcessSession

        return InProcessSession(self, user, **opts)

    # ------------------------------------------------------------ policies

    def evaluate_policy(self, name: str, data: dict) -> str | None:
        """The policy's result for ``data``; None when no rule matches or there is no policy."""
        policy = self.policies.get(name)
        return policy.apply(dict(data)) if policy is not None else None

    def set_policy(self, name: str, rules: str | None) -> None:
        """Set a policy as koji.policy rule text, as in hub.conf ("has_perm admin :: allow").

        None removes it (kojihub then treats it as missing). As at hub start,
        text that is not rules fails here.
        """
        if rules is None:
            self.policies.pop(name, None)
            return
        if not sandbox_policy.looks_like_rules(rules):
            raise ValueError(
                f"Policy {name!r} must be koji.policy rule text such as 'all :: allow', "
                f"not {rules!r}."
            )
        self.policies[name] = sandbox_policy.compile_rules(rules)


def api_core_user_perms(hub: SandboxHub, user_id: int) -> list[str]:
    rows = hub.db.all(
        "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id "
        "WHERE up.user_id = ?",
        (user_id,),
    )
    return [r["name"] for r in rows]
