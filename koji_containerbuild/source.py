"""Where a container build's source comes from: SCM URL rules on top of koji.daemon.SCM.

The hub plugin only needs :func:`check_scm_url` and must stay light, so
``koji.daemon`` is imported inside the functions, never at module level.
"""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Any

import koji

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.bounds import QUOTE_MAX, URL_MAX, quote

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
        raise SourceError(f"The source must be an SCM URL such as '{_EXAMPLE}', not {quote(url)}.")
    if len(url) > URL_MAX:
        raise SourceError(
            f"The source {quote(url)} is longer than the {URL_MAX} characters an SCM URL may "
            f"have: give the repository URL and the commit, like '{_EXAMPLE}'."
        )
    if not (url.isascii() and url.isprintable()) or any(char.isspace() for char in url):
        # Also what keeps host patterns in allowed_scms exact: no look-alike hosts.
        raise SourceError(
            f"The source {quote(url)} contains spaces, control or non-ASCII characters: "
            "percent-encode them (an SCM URL is printable ASCII)."
        )
    if not scm_class.is_scm_url(url):
        raise SourceError(
            f"The source {quote(url)} is not an SCM URL: use one of the schemes "
            f"{', '.join(_schemes(scm_class))} and end it with '#<commit>', "
            f"like '{_EXAMPLE}'."
        )
    head, _, revision = url.partition("#")
    if not revision:
        raise SourceError(
            f"The source {quote(url)} has no '#revision': append '#' and the commit to build, "
            f"like '{head if len(head) <= QUOTE_MAX else '<repository URL>'}#<commit>'."
        )
    _parse(scm_class, url)


def _parse(scm_class, url: str):
    try:
        return scm_class(url)
    except (koji.GenericError, ValueError) as error:  # ValueError: urllib, e.g. "[::1"
        raise SourceError(
            f"The source {quote(url)} is not a valid SCM URL ({_reason(error)}): write it as "
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
        if scm.scmtype in ("GIT", "GIT+SSH"):
            return _git_checkout(scm, workdir, session, upload_path, logfile)
        return scm.checkout(workdir, session, upload_path, logfile)
    except koji.BuildError as error:
        raise SourceError(
            f"Could not check out {quote(url)} ({_reason(error)}): check that the repository "
            "is reachable and that the revision exists."
        ) from None


def _git_checkout(scm: Any, scmdir: str, session: Any, upload_path: str, logfile: str) -> str:
    """Check out a git source with the commands koji.daemon.SCM.checkout runs.

    SCM.checkout runs each command through koji.daemon.log_output, which
    polls the child once per second, so a three-command checkout costs at
    least three seconds of sleeping. The same commands are run here with
    subprocess (which waits for the exit, no polling); their output goes to
    ``logfile`` in the same form and is uploaded to the task once at the end.
    The allowlist and policy checks stay SCM's (done before this is called).
    """
    if scm.scmtype == "GIT+SSH":
        if not scm.user:
            raise koji.BuildError(f"No user specified for repository access scheme: {scm.scheme}")
        gitrepo = f"git+ssh://{scm.user}@{scm.host}{scm.repository}"
    else:
        # git+https:// -> https://, git:// stays
        scheme = scm.scheme.split("+", 1)[-1]
        user = f"{scm.user}@" if scm.user else ""
        gitrepo = f"{scheme}{user}{scm.host}{scm.repository}"
    repository = scm.repository
    if repository.endswith("/.git"):
        repository = repository[: -len("/.git")]
    elif repository.endswith(".git"):
        repository = repository[: -len(".git")]
    checkout_dir = os.path.join(scmdir, os.path.basename(repository))
    # git fetch wants "origin/x" split, as in SCM.checkout
    revision = scm.revision.removeprefix("origin/")
    try:
        with open(logfile, "ab") as log_handle:
            _run_logged(["git", "clone", "-n", gitrepo, checkout_dir], scmdir, log_handle)
            try:
                _run_logged(
                    ["git", "fetch", "origin", f"{revision}:KOJI_FETCH_HEAD"],
                    checkout_dir,
                    log_handle,
                )
                _run_logged(
                    ["git", "reset", "--hard", "KOJI_FETCH_HEAD"], checkout_dir, log_handle
                )
            except koji.BuildError:
                # as SCM.checkout: shortened or otherwise unfetchable refs
                _run_logged(["git", "reset", "--hard", scm.revision], checkout_dir, log_handle)
    finally:
        _upload_log(session, logfile, upload_path)
    sourcedir = os.path.join(checkout_dir, scm.module) if scm.module else checkout_dir
    scm.sourcedir = sourcedir
    return sourcedir


def _run_logged(cmd: list[str], cwd: str, log_handle: Any) -> None:
    """Run one checkout command, its command line and output appended to the log."""
    log_handle.write(("$ " + " ".join(cmd) + "\n").encode("utf-8", "replace"))
    log_handle.flush()
    try:
        status = subprocess.run(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    except OSError as error:
        raise koji.BuildError(f"Error running {cmd[0]}: {error}") from None
    if status != 0:
        raise koji.BuildError(
            f'Error running GIT command "{" ".join(cmd)}", see '
            f"{os.path.basename(log_handle.name)} for details"
        )


def _upload_log(session: Any, logfile: str, upload_path: str) -> None:
    """Upload the checkout log into the task output; like kojid, a failure only logs."""
    if session is None or not upload_path or not os.path.exists(logfile):
        return
    try:
        session.uploadWrapper(logfile, upload_path, os.path.basename(logfile))
    except Exception:
        log.warning("Could not upload %s to the task output", logfile, exc_info=True)


def _reason(error: Exception) -> str:
    # koji's SCM errors repeat the URL: keep the reason short.
    reason = str(error).strip().rstrip(".") or type(error).__name__
    return reason if len(reason) <= 200 else reason[:200] + "..."
