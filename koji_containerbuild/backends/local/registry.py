"""The build registry's manifests and tags: reads, tag moves and withdrawals.

A build reads what each of its tags points at and moves each tag, and a
withdrawal lists and reads them all: a skopeo process for each costs about
20 ms of CPU, several times what the HTTP request itself does. So manifests
and tags are read and tags moved over the registry's HTTP API (Docker
Registry HTTP API V2) where the registry answers without credentials; a
registry that asks for them (401, 403), one whose certificate this Python
cannot check, or any answer that is not a registry's leaves the call to
skopeo, which reads the host's containers-auth.json, certs.d and
registries.conf. Deletes always go through skopeo, and so do the reads a
delete is decided on when HTTP finds nothing in a repository it does not
show at all: a registry may answer an anonymous client 404 for what its
credentials would show, and a tag missed there would let the delete take
an image someone else's tag names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.backends.local import buildah as bh

log = logging.getLogger(f"{LOGGER_NAME}.backends.local_registry")

#: Every manifest type skopeo accepts, so the registry answers with the bytes
#: it stores (docker-distribution converts a schema 2 manifest to schema 1
#: for a client that does not accept schema 2).
MANIFEST_ACCEPT = ", ".join(
    (
        bh.MANIFEST_V2,
        bh.MANIFEST_LIST_V2,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    )
)
#: Seconds one registry request may take (as the skopeo calls' timeout).
REQUEST_TIMEOUT = 60
#: What a registry of this API sends with every answer, errors included.
API_HEADER = "Docker-Distribution-API-Version"

_sessions: dict[int, requests.Session] = {}


class NotOverHttp(Exception):
    """This call is skopeo's: the registry wants credentials, or did not answer as one."""


def _session() -> requests.Session:
    # one per process: the runner is forked from the task process, and two
    # processes must not share the pooled connections of one session
    session = _sessions.get(os.getpid())
    if session is None:
        session = _sessions[os.getpid()] = requests.Session()
    return session


def split_reference(ref: str) -> tuple[str, str, str | None]:
    """``host[:port]/name[:tag|@digest]`` -> (host, name, tag or digest or None)."""
    host, _, rest = ref.partition("/")
    if "@" in rest:
        name, _, reference = rest.partition("@")
        return host, name, reference
    name, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        return host, rest, None
    return host, name, tag


def _request(settings: Mapping[str, Any], method: str, host: str, path: str,
             **kwargs: Any) -> requests.Response:  # fmt: skip
    """One API request; NotOverHttp when the answer is not one to interpret here."""
    verify = bool(settings.get("registry_tls_verify"))
    url = f"{'https' if verify else 'http'}://{host}/v2/{path}"
    try:
        response = _session().request(
            method, url, timeout=REQUEST_TIMEOUT, verify=verify, allow_redirects=False, **kwargs
        )
    except requests.RequestException as error:
        raise NotOverHttp(f"{method} {url}: {error}") from None
    if API_HEADER.lower() not in (name.lower() for name in response.headers):
        raise NotOverHttp(f"{method} {url}: HTTP {response.status_code} without {API_HEADER}")
    if response.status_code in (401, 403):
        raise NotOverHttp(f"{method} {url}: HTTP {response.status_code}, credentials needed")
    return response


def _absent(what: str, confirm_absent: bool) -> None:
    """A 404 over HTTP: final, or (``confirm_absent``) skopeo's to confirm."""
    if confirm_absent:
        raise NotOverHttp(f"{what}: HTTP 404 without credentials")


def _manifest(
    settings: Mapping[str, Any], ref: str, confirm_absent: bool = False
) -> requests.Response | None:
    host, name, reference = split_reference(ref)
    response = _request(
        settings, "GET", host, f"{name}/manifests/{reference or 'latest'}",
        headers={"Accept": MANIFEST_ACCEPT},
    )  # fmt: skip
    if response.status_code == 404:
        _absent(f"GET manifest {ref}", confirm_absent)
        return None
    if response.status_code != 200:
        raise NotOverHttp(f"GET manifest {ref}: HTTP {response.status_code}")
    return response


def registry_digest(
    settings: Mapping[str, Any], ref: str, confirm_absent: bool = False
) -> str | None:
    """Manifest digest of ``docker://ref`` in the registry, None when absent.

    With ``confirm_absent``, a manifest HTTP does not find is looked up again
    with skopeo, which has the host's credentials.
    """
    try:
        response = _manifest(settings, ref, confirm_absent)
        return (
            None if response is None else "sha256:" + hashlib.sha256(response.content).hexdigest()
        )
    except NotOverHttp as reason:
        log.debug("skopeo reads %s: %s", ref, reason)
    result = subprocess.run(
        ["skopeo", "inspect", bh.tls_flag(settings), "--raw", f"docker://{ref}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=REQUEST_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        return None
    return "sha256:" + hashlib.sha256(result.stdout).hexdigest()


def list_tags(settings: Mapping[str, Any], repository: str) -> list[str]:
    """Tags of ``repository`` in the registry (none when it does not exist)."""
    return _listed_tags(settings, repository, confirm_absent=False)[0]


def _listed_tags(
    settings: Mapping[str, Any], repository: str, confirm_absent: bool
) -> tuple[list[str], bool]:
    """The tags, and whether HTTP showed the repository: then its 404s are final."""
    try:
        tags = _http_tags(settings, repository)
        if tags is not None:
            return tags, True
        _absent(f"GET tags of {repository}", confirm_absent)
        return [], False
    except (NotOverHttp, ValueError) as reason:
        log.debug("skopeo lists the tags of %s: %s", repository, reason)
    result = bh.run(["skopeo", "list-tags", bh.tls_flag(settings), f"docker://{repository}"])
    if result.returncode != 0:
        return [], False
    try:
        return list(json.loads(result.stdout).get("Tags") or []), False
    except ValueError:
        return [], False


def _http_tags(settings: Mapping[str, Any], repository: str) -> list[str] | None:
    """The tags over HTTP, None for a repository not found; NotOverHttp for skopeo's."""
    host, name, _ = split_reference(repository)
    tags: list[str] = []
    path = f"{name}/tags/list"
    while path:
        response = _request(settings, "GET", host, path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise NotOverHttp(f"GET tags of {repository}: HTTP {response.status_code}")
        listing = response.json()
        page = listing.get("tags") if isinstance(listing, dict) else ()
        if not isinstance(page, (list, type(None))) or not all(
            isinstance(tag, str) for tag in page or ()
        ):
            raise NotOverHttp(f"GET tags of {repository}: no tag list in the answer")
        tags += page or []
        # a registry that pages the list links the next page
        following = response.links.get("next", {}).get("url", "")
        path = following.split("/v2/", 1)[1] if "/v2/" in following else ""
    return tags


def tag_over_http(settings: Mapping[str, Any], repository: str, digest: str, tag: str) -> bool:
    """Point ``repository:tag`` at the manifest ``digest`` of the same repository.

    The manifest's own bytes are put under the tag, so the tag has the very
    digest (skopeo copy --preserve-digests; a list's images are in the
    repository already). False when skopeo must do it instead.
    """
    if not digest.startswith("sha256:"):
        return False  # not a manifest digest: nothing to read the tag's bytes from
    host, name, _ = split_reference(repository)
    try:
        source = _manifest(settings, f"{repository}@{digest}")
        if source is None:
            return False  # skopeo says what is missing
        content_type = source.headers.get("Content-Type", "").split(";")[0].strip()
        response = _request(
            settings, "PUT", host, f"{name}/manifests/{tag}",
            data=source.content, headers={"Content-Type": content_type},
        )  # fmt: skip
    except NotOverHttp as reason:
        log.debug("skopeo tags %s:%s: %s", repository, tag, reason)
        return False
    return response.status_code == 201 and response.headers.get("Docker-Content-Digest") == digest


def delete_manifests(settings: Mapping[str, Any], repository: str, digests: Iterable[str]) -> list:
    """Delete manifests by digest (and with them every tag pointing at them)."""
    failures = []
    for digest in digests:
        result = bh.run(
            ["skopeo", "delete", bh.tls_flag(settings), f"docker://{repository}@{digest}"],
            timeout=60,
        )
        if result.returncode != 0 and "manifest unknown" not in result.stderr.lower():
            failures.append(f"{repository}@{digest}: {result.stderr.strip()}")
    return failures


def delete_untagged(settings: Mapping[str, Any], repository: str, digest: str) -> list[str]:
    """Delete the manifest ``digest`` unless a tag of ``repository`` points at it; failures."""
    tags, visible = _listed_tags(settings, repository, confirm_absent=True)
    for tag in tags:
        if registry_digest(settings, f"{repository}:{tag}", confirm_absent=not visible) == digest:
            return []
    return delete_manifests(settings, repository, [digest])


#: Rounds of deleting a build's manifests before withdraw_pushes gives up.
WITHDRAW_ATTEMPTS = 3


def withdraw_pushes(build_dir: str, settings: Mapping[str, Any]) -> list[str]:
    """Remove from the registry whatever this build pushed; returns failures.

    The runner journals each reference BEFORE pushing it, so a push cut short
    by a kill is still found here; digests are looked up again in the registry
    because the runner may have died before recording them. Only digests that
    belong to this build (its unique tags) are deleted, and only when no tag
    another build set still points at them: the registry deletes a manifest
    with every tag on it, so a digest shared with an older build's tag (the
    same image built twice, or a tag this build moved onto the digest it
    already had) is kept.
    """
    journal = bh.read_json(os.path.join(build_dir, bh.PUSHED_FILE), {}) or {}
    repository = journal.get("repository")
    if not repository:
        return []
    digests = list(journal.get("digests", []))
    ours = set(journal.get("unique_tags", []))
    tags, visible = _listed_tags(settings, repository, confirm_absent=True)
    confirm = not visible  # in a repository HTTP shows, a 404 is final
    for tag in ours:
        digest = registry_digest(settings, f"{repository}:{tag}", confirm_absent=confirm)
        if digest and digest not in digests:
            digests.append(digest)
    if not digests:
        return []
    moved = journal.get("moved_tags", {})
    shared = set()
    for tag in tags:
        if tag in ours:
            continue
        digest = registry_digest(settings, f"{repository}:{tag}", confirm_absent=confirm)
        if digest in digests and (tag not in moved or moved[tag] == digest):
            shared.add(digest)
    doomed = [d for d in digests if d not in shared]
    # a registry under load may fail a delete: check what is left and try again
    mine = ours | set(moved)
    failures: list[str] = []
    for attempt in range(WITHDRAW_ATTEMPTS):
        if attempt:
            time.sleep(0.5 * attempt)
        failures = delete_manifests(settings, repository, doomed)
        left = {
            registry_digest(settings, f"{repository}:{tag}", confirm_absent=confirm)
            for tag in mine
        }
        doomed = [d for d in doomed if d in left]
        if not doomed:
            return failures
    return failures or [f"{repository}@{d}: still in the registry after deleting" for d in doomed]
