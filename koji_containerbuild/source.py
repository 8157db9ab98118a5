"""Where a container build's source comes from: SCM URL rules on top of koji.daemon.SCM.

The hub plugin only needs :func:`check_scm_url` and must stay light, so
``koji.daemon`` is imported inside the functions, never at module level.
"""

from __future__ import annotations

import logging
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME + ".source")

_EXAMPLE = "git+https://src.example.com/containers/app.git#<commit>"


class SourceError(ValueError):
    """The source cannot be used; the message is one sentence for the task owner."""


def _scm_class():
    from koji.daemon import SCM

    return SCM


def _schemes(scm_class) -> list[str]:
    return sorted(scheme for schemes in scm_class.types.values() for scheme in schemes)


def check_scm_url(url: str) -> None:
    """Refuse anything that is not an SCM URL pinned to a revision (``#commit``)."""
    scm_class = _scm_class()
    if not isinstance(url, str) or not url:
        raise SourceError(f"The source must be an SCM URL such as '{_EXAMPLE}', not {url!r}.")
    if not scm_class.is_scm_url(url):
        raise SourceError(
            f"The source {url!r} is not an SCM URL: use one of the schemes "
            f"{', '.join(_schemes(scm_class))} and end it with '#<commit>', "
            f"like '{_EXAMPLE}'."
        )
    head, _, revision = url.partition("#")
    if not revision:
        raise SourceError(
            f"The source {url!r} has no '#revision': append '#' and the commit to build, "
            f"like '{head}#<commit>'."
        )
    _parse(scm_class, url)


def _parse(scm_class, url: str):
    try:
        return scm_class(url)
    except koji.GenericError as error:
        raise SourceError(
            f"The source {url!r} is not a valid SCM URL ({_reason(error)}): write it as "
            f"scheme://host/path/to/repo#revision, like '{_EXAMPLE}'."
        ) from None


def checkout(
    url: str,
    workdir: str,
    session: Any,
    upload_path: str,
    logfile: str,
    options: Any,
    policy_data: dict | None,
) -> str:
    """Check the source against kojid's SCM allowlist and policy, then check it out.

    ``options`` is kojid's options object (allowed_scms, allowed_scms_use_config,
    allowed_scms_use_policy). Returns the directory holding the checked-out source.
    Container sources never use the ``common/`` repository of RPM dist-git.
    """
    check_scm_url(url)
    scm = _parse(_scm_class(), url)
    by_config = bool(getattr(options, "allowed_scms_use_config", True))
    by_policy = bool(getattr(options, "allowed_scms_use_policy", False))
    allowed = getattr(options, "allowed_scms", "") or ""
    where = f"{scm.host}:{scm.repository}"
    try:
        scm.assert_allowed(allowed, session, by_config, False)
    except koji.BuildError:
        raise SourceError(
            f"The source repository {where} is not in this builder's allowed SCMs "
            "(allowed_scms in kojid.conf): build from an allowed repository or ask a Koji "
            "admin to allow this one."
        ) from None
    if by_policy:
        try:
            scm.assert_allowed("", session, False, True, policy_data)
        except koji.BuildError as error:
            raise SourceError(
                f"The build_from_scm policy of this Koji refuses the source repository "
                f"{where} ({_reason(error)}): build from an allowed repository or ask a "
                "Koji admin to change the policy."
            ) from None
    scm.use_common = False
    log.info("Checking out %s into %s", url, workdir)
    try:
        return scm.checkout(workdir, session, upload_path, logfile)
    except koji.BuildError as error:
        raise SourceError(
            f"Could not check out {url!r} ({_reason(error)}): check that the repository "
            "is reachable and that the revision exists."
        ) from None


def _reason(error: Exception) -> str:
    return str(error).strip().rstrip(".") or type(error).__name__
