"""yum_repourls for the local backend: fetch the .repo files, mount them for RUN steps.

OSBS injects the .repo files into /etc/yum.repos.d/ for the build's RUN steps
and removes them from the final image. The local backend fetches them into a
directory of its own and bind-mounts that directory read-only over
/etc/yum.repos.d/ during ``buildah bud``: the RUN steps' package manager sees
exactly the given repos, nothing of them is committed into a layer, and a RUN
step that writes a repo file there fails loudly instead of losing it.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.parse
import urllib.request

#: Where the RUN steps' package manager (yum, dnf) reads repo files.
YUM_REPOS_DIR = "/etc/yum.repos.d"
#: A .repo file is a few lines of INI; anything larger is not one.
MAX_REPO_BYTES = 1024 * 1024
FETCH_TIMEOUT = 60.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class RepoFetchError(Exception):
    """A .repo URL could not be fetched; the message is for the task owner."""


def repo_filename(url: str) -> str:
    """A plain file name for the URL: its base name (made safe) plus a short hash.

    The hash keeps two URLs ending in the same name apart; the ``.repo``
    suffix is what yum and dnf read.
    """
    base = os.path.basename(urllib.parse.urlsplit(url).path) or "repo"
    if base.endswith(".repo"):
        base = base[: -len(".repo")]
    base = _UNSAFE.sub("_", base).lstrip(".") or "repo"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    return f"{base[:64]}-{digest}.repo"


def fetch_repo_files(urls: list[str], dest_dir: str, timeout: float = FETCH_TIMEOUT) -> list[str]:
    """Download every URL into ``dest_dir``; the paths written, in order."""
    os.makedirs(dest_dir, exist_ok=True)
    written = []
    for url in urls:
        path = os.path.join(dest_dir, repo_filename(url))
        data = _download(url, timeout)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o644)
        written.append(path)
    return written


def _download(url: str, timeout: float) -> bytes:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise RepoFetchError(_sentence(url, "only http and https URLs can be fetched"))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read(MAX_REPO_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise RepoFetchError(_sentence(url, f"HTTP {error.code} {error.reason}")) from None
    except urllib.error.URLError as error:
        raise RepoFetchError(_sentence(url, str(error.reason))) from None
    except (OSError, ValueError) as error:
        raise RepoFetchError(_sentence(url, str(error))) from None
    if len(data) > MAX_REPO_BYTES:
        raise RepoFetchError(_sentence(url, f"it is larger than {MAX_REPO_BYTES} bytes"))
    return data


def _sentence(url: str, reason: str) -> str:
    return (
        f"The yum repo file {url} given in yum_repourls (--repo-url) could not be fetched "
        f"({reason}); fix the URL or make it reachable from the builder."
    )


def volume_args(repo_dir: str | None) -> list[str]:
    """``buildah bud`` arguments mounting the fetched repos over /etc/yum.repos.d, read-only."""
    if not repo_dir:
        return []
    return ["--volume", f"{os.path.abspath(repo_dir)}:{YUM_REPOS_DIR}:ro"]
