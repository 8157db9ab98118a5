"""End to end: koji tag-build into the release tag promotes and signs (issue 14).

Through the real koji CLI and the sandbox: the tagBuild task kojid runs tags
the build, the hub plugin's postTag callback creates a promoteContainer task
and the builder plugin copies the image to the production registry and signs
it; a client's signedBy policy accepts it and refuses another key's signature.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile

import koji
import pytest

from koji_containerbuild.sandbox.env import runtime, signing
from tests.e2e.test_e2e import build, dockerfile, koji_cli, publish, wait_for

pytestmark = pytest.mark.e2e

COMPONENT = "e2e-promote"


# session scope: under xdist one module's tests may be split across runs of a
# worker, and a module fixture made again would build the same NVR twice
def image_build(sandbox, tmp_path, release: str, *extra: str) -> str:
    """Build COMPONENT at ``release``; its NVR."""
    sandbox.hub.add_package(runtime.RELEASE_TAG, COMPONENT, runtime.USER)
    url = publish(sandbox, tmp_path, COMPONENT, dockerfile(COMPONENT, release, f"echo {release}"))
    done, _ = build(sandbox, url, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return f"{COMPONENT}-1.0-{release}"


def promote_tasks(session) -> list[int]:
    return sorted(t["id"] for t in session.listTasks(opts={"method": "promoteContainer"}))


def tag_build(sandbox, session, tag: str, nvr: str) -> int | None:
    """``koji tag-build TAG NVR``; the promoteContainer task it led to, once it ended."""
    before = promote_tasks(session)
    done = koji_cli(sandbox, "tag-build", "--wait", tag, nvr)
    assert done.returncode == 0, done.stdout + done.stderr
    new = [t for t in promote_tasks(session) if t not in before]
    if not new:
        return None
    (task_id,) = new
    wait_for(lambda: koji.TASK_STATES[session.getTaskInfo(task_id)["state"]]
             in ("CLOSED", "FAILED"))  # fmt: skip
    return task_id


def skopeo(sandbox, *args: str, policy: str | None = None, gpg_home: str | None = None):
    import os

    env = {**os.environ, "GNUPGHOME": gpg_home} if gpg_home else None
    return subprocess.run(
        ["skopeo", "--policy", policy or sandbox.paths.policy,
         "--registries.d", sandbox.paths.registries_d, *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def production_tags(sandbox, repository: str) -> list[str]:
    listed = skopeo(sandbox, "list-tags", "--tls-verify=false",
                    f"docker://{sandbox.production_address}/{repository}")  # fmt: skip
    return sorted(json.loads(listed.stdout)["Tags"] or []) if listed.returncode == 0 else []


@pytest.fixture(scope="session")
def promoted(sandbox, session, tmp_path_factory):
    """The first release of COMPONENT tagged into the release tag: (nvr, task id)."""
    nvr = image_build(sandbox, tmp_path_factory.mktemp("promote"), "1")
    return nvr, tag_build(sandbox, session, runtime.RELEASE_TAG, nvr)


def test_tag_build_into_the_release_tag_closes_a_promote_task(session, promoted):
    _, task_id = promoted
    assert koji.TASK_STATES[session.getTaskInfo(task_id)["state"]] == "CLOSED"


def test_promoted_image_is_in_production_under_version_release_and_latest(sandbox, promoted):
    assert production_tags(sandbox, f"e2e/{COMPONENT}") == ["1.0-1", "latest"]


def test_promoted_image_signature_is_accepted_by_a_signed_by_policy(
    sandbox, session, promoted, tmp_path
):
    pull = session.getTaskResult(promoted[1])["pull_specs"][1]
    pulled = skopeo(sandbox, "copy", "--src-tls-verify=false", f"docker://{pull}",
                    f"dir:{tmp_path / 'image'}")  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr


def test_task_result_names_the_builder_key(sandbox, session, promoted):
    result = session.getTaskResult(promoted[1])
    assert result["signer"] == {"type": "simple", "fingerprint": sandbox.signer_fingerprint}


def test_image_signed_by_another_key_is_refused(sandbox, promoted, tmp_path):
    # a short home: gpg-agent's socket lives in it, and a socket path has at most
    # 107 bytes (pytest's tmp_path under xdist comes close to that)
    other_home = tempfile.mkdtemp(prefix="kcb-gpg-")
    other = signing.make_gpg_key(other_home, "Intruder <intruder@sandbox.invalid>")
    accept = tmp_path / "accept.json"
    accept.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    source = f"{sandbox.production_address}/e2e/{COMPONENT}:1.0-1"
    forged = f"{sandbox.production_address}/e2e/forged:1.0-1"
    try:
        signed = skopeo(sandbox, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                        "--sign-by", other, f"docker://{source}", f"docker://{forged}",
                        policy=str(accept), gpg_home=other_home)  # fmt: skip
    finally:
        signing.stop_gpg_agent(other_home)
        shutil.rmtree(other_home, ignore_errors=True)
    assert signed.returncode == 0, signed.stderr
    pulled = skopeo(sandbox, "copy", "--src-tls-verify=false", f"docker://{forged}",
                    f"dir:{tmp_path / 'image'}")  # fmt: skip
    assert "Invalid GPG signature" in pulled.stderr


def test_tagging_into_a_tag_without_a_rule_creates_no_task(sandbox, session, promoted):
    sandbox.hub.add_tag("e2e-no-rule", arches=None)
    sandbox.hub.add_package("e2e-no-rule", COMPONENT, runtime.USER)
    assert tag_build(sandbox, session, "e2e-no-rule", promoted[0]) is None


def test_untag_keeps_production_and_tagging_again_copies_nothing(sandbox, session, promoted):
    nvr, _ = promoted
    done = koji_cli(sandbox, "call", "untagBuild", runtime.RELEASE_TAG, nvr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert production_tags(sandbox, f"e2e/{COMPONENT}") == ["1.0-1", "latest"]
    again = tag_build(sandbox, session, runtime.RELEASE_TAG, nvr)
    assert session.getTaskResult(again)["copied"] is False


def test_a_scratch_build_cannot_be_promoted(sandbox, session, tmp_path):
    url = publish(sandbox, tmp_path, "e2e-promote-scratch",
                  dockerfile("e2e-promote-scratch", "1", "true"))  # fmt: skip
    done, _ = build(sandbox, url, "--scratch")
    assert done.returncode == 0, done.stdout + done.stderr
    before = promote_tasks(session)
    refused = koji_cli(sandbox, "tag-build", runtime.RELEASE_TAG, "e2e-promote-scratch-1.0-1")
    assert ("No such build" in refused.stderr, promote_tasks(session)) == (True, before)


def test_production_registry_down_fails_the_task_and_leaves_no_tag(
    sandbox, session, promoted, tmp_path
):
    nvr = image_build(sandbox, tmp_path, "2")
    sandbox.production.stop()
    try:
        task_id = tag_build(sandbox, session, runtime.RELEASE_TAG, nvr)
    finally:
        sandbox.production.start()
    assert koji.TASK_STATES[session.getTaskInfo(task_id)["state"]] == "FAILED"
    assert "1.0-2" not in production_tags(sandbox, f"e2e/{COMPONENT}")
