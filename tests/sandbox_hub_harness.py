"""The sandbox hub tests' helper: a task made as alice through the hub's own dispatch.

Shared by tests/test_sandbox_hub.py and tests/test_sandbox_hub_uploads.py.
"""

from __future__ import annotations


def _make(hub, method, args, **opts):
    from koji_containerbuild.sandbox.kojihub import api_maketask

    return hub.dispatch_raw(
        lambda: api_maketask.make_task(method, list(args), **opts),
        (),
        {},
        hub._session_for(hub.db.one("SELECT * FROM users WHERE name = 'alice'")),
    )
