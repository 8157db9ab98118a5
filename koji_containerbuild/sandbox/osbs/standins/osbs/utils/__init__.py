"""osbs.utils of the osbs-client 2.8.0 stand-in: the source checkout and run names.

Like osbs-client, a binary build's create call clones the repository
(``git clone -b <branch> --single-branch``, retried 3 times 60, 120 and 240 s
apart), resets it to the commit (a commit the branch does not hold raises
OsbsCommitNotFound, not retried) and reads the Dockerfile's labels and
container.yaml. Of container.yaml only its top-level ``flatpak`` section is
read (there is no YAML parser here): present and not empty means a flatpak
repository. Run names come from the repository and branch plus a random
postfix, as osbs-client makes them.
"""

import hashlib
import os
import random
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from urllib.parse import urlparse

import fake_openshift
from dockerfile_parse import DockerfileParser
from osbs.constants import (
    GIT_BACKOFF_FACTOR,
    GIT_MAX_RETRIES,
    RAND_DIGITS,
    REPO_CONTAINER_CONFIG,
)
from osbs.exceptions import OsbsCommitNotFound, OsbsException


class RepoInfo:
    """What a create call learned from the checkout."""

    def __init__(self, labels, base_image, is_flatpak):
        self.labels = labels
        self.base_image = base_image
        self.is_flatpak = is_flatpak


def _container_yaml_has_flatpak(text):
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^flatpak\s*:\s*(.*?)\s*(#.*)?$", line)
        if not match:
            continue
        value = match.group(1)
        if value:
            return value not in ("{}", "null", "~", "''", '""')
        following = [rest for rest in lines[index + 1 :] if rest.strip()]
        return bool(following) and following[0][:1] in (" ", "\t")
    return False


def _run_git(args, cwd=None):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def _clone(git_uri, git_ref, git_branch, target):
    cluster = fake_openshift.current()
    command = ["clone"]
    if git_branch:
        command += ["-b", git_branch, "--single-branch"]
    command += [git_uri, target]
    for counter in range(GIT_MAX_RETRIES + 1):
        try:
            _run_git(command)
            try:
                _run_git(["rev-list", "--count", git_ref], cwd=target)
                _run_git(["reset", "--hard", git_ref], cwd=target)
            except subprocess.CalledProcessError:
                reason = f"cannot find commit {git_ref} in repo {target}"
                raise OsbsCommitNotFound(
                    f"Commit {git_ref} is not reachable in branch {git_branch}, reason: {reason}"
                ) from None
            return
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(target, ignore_errors=True)
            if counter == GIT_MAX_RETRIES:
                raise OsbsException(
                    f"Unable to clone git repo '{git_uri}' branch '{git_branch}'", cause=exc
                ) from exc
            cluster.sleep(GIT_BACKOFF_FACTOR * 2**counter)


def get_repo_info(git_uri, git_ref, git_branch=None, depth=None):
    from osbs.utils.labels import Labels

    scratch = tempfile.mkdtemp(prefix="osbs-standin-")
    try:
        code_dir = os.path.join(scratch, "repo")
        _clone(git_uri, git_ref, git_branch, code_dir)
        config_path = os.path.join(code_dir, REPO_CONTAINER_CONFIG)
        is_flatpak = False
        if os.path.isfile(config_path):
            with open(config_path, encoding="utf-8") as handle:
                is_flatpak = _container_yaml_has_flatpak(handle.read())
        if is_flatpak:
            # osbs-client makes the flatpak's Dockerfile from container.yaml's modules
            return RepoInfo(None, None, True)
        parser = DockerfileParser(code_dir, cache_content=True)
        return RepoInfo(Labels(dict(parser.labels)), parser.baseimage, False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def generate_random_postfix():
    """<5 random digits>-<UTC timestamp to the second>."""
    timestamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    number = random.SystemRandom().randrange(10 ** (RAND_DIGITS - 1), 10**RAND_DIGITS)
    return f"{number}-{timestamp}"


def _openshift_chars(text):
    return "".join(char for char in text if re.match("[-a-z0-9]", char))


def _sanitize(first, second, limit, separator="-"):
    """Both strings cut to OpenShift's name characters, taking turns up to ``limit``."""
    parts = ([], [])
    size = len(separator)
    sources = (_openshift_chars(first), _openshift_chars(second))
    done = False
    for index in range(max(len(sources[0]), len(sources[1]))):
        for source, chars in zip(sources, parts):
            if index < len(source):
                chars.append(source[index])
                size += 1
                if size >= limit:
                    done = True
                    break
        if done:
            break
    pieces = ["".join(chars).strip(separator) for chars in parts]
    return separator.join(piece for piece in pieces if piece)


def make_name_from_git(repo, branch, limit=43, separator="-", hash_size=5):
    """Run name of a normal build: repo and branch, a hash of both, the random postfix.

    As in osbs-client 2.8, nothing separates the hash from the postfix.
    """
    branch = branch or "unknown"
    digest = hashlib.sha256((urlparse(repo).path.lstrip("/") + branch).encode()).hexdigest()
    short = digest[:hash_size]
    humanish = os.path.basename(re.sub(r"(/\.git|\.git)$", "", repo.rstrip("/")))
    sanitized = _sanitize(humanish, branch, limit - len(short) - 1, separator)
    return separator.join(part for part in (sanitized, short) if part) + generate_random_postfix()
