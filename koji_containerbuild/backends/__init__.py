"""Build backends: OSBS (osbs-client) and local (buildah + registry)."""

from __future__ import annotations

import importlib
from typing import Any

from koji_containerbuild.backends.base import BackendError, BuildBackend

_MODULES = {
    "osbs": "koji_containerbuild.backends.osbs.backend",
    "local": "koji_containerbuild.backends.local.backend",
}


def create_backend(name: str, settings: Any) -> BuildBackend:
    """Return the backend named in the builder config, imported on demand.

    Importing lazily keeps osbs-client out of processes that use the local
    backend, and a broken osbs-client install fails only the tasks that need it.
    """
    try:
        module_name = _MODULES[name]
    except KeyError:
        known = ", ".join(sorted(_MODULES))
        raise BackendError(
            f"Unknown build backend {name!r} in the builder plugin config; use one of: {known}."
        ) from None
    module = importlib.import_module(module_name)
    return module.create(settings)
