"""InProcessSession: what kojid's koji.ClientSession looks like, without HTTP.

Every call is marshalled with koji.xmlrpcplus both ways, so values that
cannot cross the wire fail here as they would against a real hub, and faults
come back as the koji exception class of their faultCode.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import koji
import koji.xmlrpcplus as xmlrpcplus

from koji_containerbuild.sandbox.kojihub.api_base import fault_for
from koji_containerbuild.sandbox.kojihub.server import assert_rpc_size
from koji_containerbuild.sandbox.kojihub.uploads import raw_upload


class _Namespace:
    """`session.host.openTask(...)` style access to dotted RPC names."""

    def __init__(self, session: InProcessSession, prefix: str):
        self._session = session
        self._prefix = prefix

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Method(self._session, f"{self._prefix}.{name}")


class _Method:
    __slots__ = ("_name", "_session")

    def __init__(self, session: InProcessSession, name: str):
        self._session = session
        self._name = name

    def __call__(self, *args, **kwargs):
        return self._session._callMethod(self._name, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Method(self._session, f"{self._name}.{name}")


class InProcessSession:
    """A koji.ClientSession stand-in bound to a SandboxHub (logged in unless user is None)."""

    baseurl = "inprocess://sandbox/kojihub"

    def __init__(self, hub, user: str | None = None, opts: dict | None = None):
        self.hub = hub
        self.opts: dict[str, Any] = {"use_fast_upload": True, "upload_blocksize": 1048576}
        self.opts.update(opts or {})
        self.calls: list[tuple[str, tuple, dict]] = []
        self.logger = logging.getLogger("koji")
        self.multicall = False
        self.retries = 0
        self.sinfo: dict | None = None
        self.logged_in = False
        self.callnum = None
        self.authtype = None
        self.exclusive = False
        self.host = _Namespace(self, "host")
        self.system = _Namespace(self, "system")
        if user is not None:
            row = hub.db.one("SELECT password FROM users WHERE name = ?", (user,))
            if row is None:
                raise koji.GenericError(f"No such user: {user!r}")
            self.opts.setdefault("user", user)
            self._login_as(user)

    def _login_as(self, user: str) -> None:
        from koji_containerbuild.sandbox.kojihub.api_core import create_session

        user_row = self.hub.db.one("SELECT id FROM users WHERE name = ?", (user,))
        # create_session needs the hub as the current one, as inside a call
        from koji_containerbuild.sandbox.kojihub import api_base

        previous = api_base.set_current(self.hub)
        try:
            sinfo = create_session(user_row["id"])
        finally:
            api_base.set_current(previous)
        self.setSession(sinfo)
        self.authtype = koji.AUTHTYPES["NORMAL"]

    def setSession(self, sinfo: dict | None) -> None:
        self.sinfo = sinfo
        self.logged_in = sinfo is not None
        self.callnum = 0 if sinfo else None

    # ------------------------------------------------------------ calls

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Method(self, name)

    def callMethod(self, name: str, *args, **kwargs):
        return self._callMethod(name, args, kwargs)

    def _hub_session(self):
        if self.sinfo is None:
            return None
        callnum = self.callnum
        self.callnum += 1
        return self.hub.session_from_credentials(
            self.sinfo["session-id"], self.sinfo["session-key"], callnum
        )

    def _callMethod(self, name: str, args, kwargs=None, retry=True):
        kwargs = dict(kwargs or {})
        self.calls.append((name, tuple(args), kwargs))
        self.retries = 1
        if name == "rawUpload":
            return self._raw_upload(*args, **kwargs)
        request = xmlrpcplus.dumps(koji.encode_args(*args, **dict(kwargs)), name, allow_none=1)
        params, method = xmlrpcplus.loads(request)
        params, opts = koji.decode_args(*params)
        try:
            assert_rpc_size(len(request.encode("utf-8")))
            result = self.hub.dispatch(method, params, opts, self._hub_session())
            response = xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        except Exception as exc:
            response = xmlrpcplus.dumps(fault_for(exc), methodresponse=1, allow_none=1)
        return self._unmarshal(response)

    def _raw_upload(
        self, chunk, offset, path, name, verify="adler32", overwrite=False, volume=None
    ):
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in to upload")
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        try:
            result = self.hub.dispatch_raw(
                raw_upload,
                (bytes(chunk), offset, path, name),
                {"verify": verify, "overwrite": overwrite, "volume": volume},
                self._hub_session(),
            )
            response = xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        except Exception as exc:
            response = xmlrpcplus.dumps(fault_for(exc), methodresponse=1, allow_none=1)
        return self._unmarshal(response)

    @staticmethod
    def _unmarshal(response: str):
        try:
            result, _ = xmlrpcplus.loads(response)
        except koji.Fault as fault:
            raise koji.convertFault(fault) from None
        return result[0]

    # ------------------------------------------------------------ ClientSession helpers

    def login(self, opts=None, renew=False):
        sinfo = self.callMethod("login", self.opts["user"], self.opts.get("password"), opts=opts)
        self.setSession(sinfo)
        return True

    def logout(self, session_id=None):
        if not self.logged_in:
            return
        self._callMethod("logout", (), {"session_id": session_id})
        if not session_id or session_id == self.sinfo["session-id"]:
            self.setSession(None)

    def subsession(self):
        clone = type(self)(self.hub, None, opts=dict(self.opts))
        clone.setSession(self.callMethod("subsession"))
        return clone

    # the real client's upload code, running over this session's calls and _raw_upload
    fastUpload = koji.ClientSession.fastUpload
    uploadWrapper = koji.ClientSession.uploadWrapper

    def downloadTaskOutput(self, taskID, fileName, offset=0, size=-1, volume=None):
        kwargs = {"offset": offset, "size": size}
        if volume and volume != "DEFAULT":
            kwargs["volume"] = volume
        return base64.b64decode(self._callMethod("downloadTaskOutput", (taskID, fileName), kwargs))

    def getKojiVersion(self):
        return self._callMethod("getKojiVersion", ())

    @property
    def hub_version_str(self) -> str:
        return koji.__version__

    def _forget(self) -> None:
        self.setSession(None)
