"""The corpus of hostile task arguments to the builder plugin (builder/flow.py, builder/checks.py).

Each row is one set of task arguments an admin could make a task with; the
task fails with ONE sentence and nothing is built.
"""

from __future__ import annotations

import koji
import koji.xmlrpcplus
import pytest

from tests.builder_harness import DOCKERFILE
from tests.hostile_requests_harness import MAX_SENTENCES, MB, _opts

# -- task args to the builder ---------------------------------------------------------


# kojid: the builder plugin on the OSBS backend (tests/osbs_builder_fixture.py)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


SOURCE_PLACEHOLDER = "@@the published source@@"


# (id, method, task args, key phrase of the BuildError)
BUILDER_CASES = [
    (
        "IPv6-like SCM URL",
        "buildContainer",
        ["git://[::1/containers/app.git#abc", "demo", {"git_branch": "main"}],
        "is not a valid SCM URL (Invalid IPv6 URL)",
    ),
    (
        "100 KB SCM URL",
        "buildContainer",
        ["git://127.0.0.1/" + "a" * 100000 + "#abc", "demo", {"git_branch": "main"}],
        "is longer than the 4096 characters an SCM URL may have",
    ),
    (
        "userdata nested 100 deep",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(userdata=_nested(100))],
        "Option 'userdata' (koji: --userdata) is nested more than 32 levels deep",
    ),
    (
        "userdata with NaN",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(userdata='{"a": NaN}')],
        "Option 'userdata' (koji: --userdata) holds NaN or Infinity",
    ),
    (
        "compose id 1.0",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(compose_ids=[1.0])],
        "Option 'compose_ids' (--compose-id) must be a list of ODCS compose ids",
    ),
    (
        "dependency replacement without the PM:NAME:VERSION form",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(dependency_replacements=["nonsense"])],
        "is not 'PKG_MANAGER:NAME:VERSION[:NEW_NAME]'",
    ),
    (
        "1 MB git branch",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(git_branch="b" * MB)],
        "Option 'git_branch' (koji: --git-branch) is 1048576 characters long",
    ),
    (
        "git branch with a newline",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(git_branch="main\nx")],
        "Option 'git_branch' (koji: --git-branch) has 'main\\nx', which contains control",
    ),
    (
        "1 MB target name",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "t" * MB, {"git_branch": "main"}],
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "1 MB target name of a source build",
        "buildSourceContainer",
        ["t" * MB, {"koji_build_id": 1}],
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "koji_build_id 1.0",
        "buildSourceContainer",
        ["demo", {"koji_build_id": 1.0}],
        "Option 'koji_build_id' (koji: --koji-build-id) must be the id of a Koji image build",
    ),
]


@pytest.mark.parametrize(
    ("method", "args", "phrase"),
    [case[1:] for case in BUILDER_CASES],
    ids=[case[0] for case in BUILDER_CASES],
)
def test_hostile_task_args_fail_the_task_with_one_sentence_and_build_nothing(
    kojid, fake_osbs, git_sources, sandbox_hub, method, args, phrase
):
    source = git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})
    args = [source if arg == SOURCE_PLACEHOLDER else arg for arg in args]
    admin = sandbox_hub.session("admin")
    task_id = admin.makeTask(method, args, channel="container")
    with pytest.raises(koji.BuildError) as refused:
        kojid.run(task_id)
    assert phrase in str(refused.value)
    assert len(str(refused.value)) < MAX_SENTENCES
    assert fake_osbs.created == []
    assert admin.listBuilds() == []
