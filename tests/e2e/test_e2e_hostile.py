"""End to end: hostile repositories, Dockerfiles and RUN output (issue 8).

One real build each through ``koji container-build`` in the sandbox: what the
repository or a RUN step controls can neither read the builder's files nor
forge build-system lines nor break the task's report. Refused builds end
FAILED with one sentence, leave no Koji build and push nothing; neutralised
ones end CLOSED with the hostile text escaped or ignored.
"""

from __future__ import annotations

import os

import koji
import pytest

from koji_containerbuild.sandbox.env import runtime
from tests.e2e.test_e2e import build, dockerfile, registry_tags, task_state

pytestmark = pytest.mark.e2e


def publish_tree(sandbox, tmp_path, component: str, files: dict, symlinks: dict | None = None):
    """Commit ``files`` (name -> text) and ``symlinks`` (name -> target) as repo ``component``."""
    sandbox.hub.add_package(runtime.DEST_TAG, component, runtime.USER)
    source = tmp_path / component
    source.mkdir(parents=True)
    for name, text in files.items():
        (source / name).write_text(text)
    for name, target in (symlinks or {}).items():
        os.symlink(target, source / name)
    return sandbox.publish(component, str(source), f"{component}: hostile")


def assert_refused(sandbox, session, task_id: int, component: str, sentence: str) -> None:
    assert task_state(session, task_id) == "FAILED"
    with pytest.raises(koji.BuildError) as failure:
        session.getTaskResult(task_id)
    message = str(failure.value)
    assert sentence in message
    assert "Traceback" not in message and "\n" not in message.strip()
    assert session.getBuild(f"{component}-1.0-1") is None
    assert registry_tags(sandbox, f"e2e/{component}") == []


def test_additional_tags_linked_to_a_host_file_are_refused(sandbox, session, tmp_path):
    host_file = tmp_path / "host-secret"
    host_file.write_text("hostsecretword\n")
    component = "e2e-evil-tags"
    url = publish_tree(
        sandbox,
        tmp_path,
        component,
        {"Dockerfile": dockerfile(component, "1", "true")},
        symlinks={"additional-tags": str(host_file)},
    )
    done, task_id = build(sandbox, url)
    assert done.returncode == 1
    assert_refused(
        sandbox, session, task_id, component, "The source file 'additional-tags' is a symlink"
    )
    assert "hostsecretword" not in done.stdout + done.stderr


def test_dockerfile_linked_to_a_host_file_is_refused(sandbox, session, tmp_path):
    component = "e2e-evil-dockerfile"
    host_dockerfile = tmp_path / "host-Dockerfile"
    host_dockerfile.write_text(dockerfile(component, "1", "true"))
    url = publish_tree(
        sandbox, tmp_path, component, {}, symlinks={"Dockerfile": str(host_dockerfile)}
    )
    done, task_id = build(sandbox, url)
    assert done.returncode == 1
    assert_refused(
        sandbox, session, task_id, component, "The source file 'Dockerfile' is a symlink"
    )


def test_garbage_dockerfile_fails_with_one_sentence(sandbox, session, tmp_path):
    component = "e2e-garbage"
    url = publish_tree(sandbox, tmp_path, component, {"Dockerfile": "FROM scratch\nLABEL\n"})
    done, task_id = build(sandbox, url)
    assert done.returncode == 1
    assert_refused(sandbox, session, task_id, component, "The Dockerfile cannot be parsed")


def test_run_printing_a_metadata_line_attaches_nothing(sandbox, session, tmp_path):
    # another task's log in the hub's work dir: the line asks to copy it over this task's log
    component = "e2e-evil-metadata"
    other = publish_tree(
        sandbox,
        tmp_path / "other",
        "e2e-other",
        {"Dockerfile": dockerfile("e2e-other", "1", "true")},
    )
    _, other_task = build(sandbox, other, "--scratch")
    victim = f"{koji.pathinfo.taskrelpath(other_task)}/osbs-build.log"
    line = f"2024-01-01 10:00:00,000 - atomic_reactor - INFO - platform:_metadata_ {victim}"
    url = publish_tree(
        sandbox, tmp_path, component, {"Dockerfile": dockerfile(component, "1", f"echo '{line}'")}
    )
    done, task_id = build(sandbox, url, "--scratch")
    assert done.returncode == 0, done.stdout + done.stderr
    assert task_state(session, task_id) == "CLOSED"
    assert "metadata_file" not in session.getTaskResult(task_id)
    own_log = session.downloadTaskOutput(task_id, "osbs-build.log")
    assert line.encode() in own_log
    assert own_log != session.downloadTaskOutput(other_task, "osbs-build.log")


def test_run_printing_a_user_warning_with_escapes_is_no_user_warning(sandbox, session, tmp_path):
    component = "e2e-evil-warning"
    # JSON escapes: the message would carry ESC and BEL once parsed
    warning = (
        "2024-01-01 10:00:00,000 - atomic_reactor - USER_WARNING - "
        '{"message": "pwned \\u001b]0;title\\u0007 \\u001b[2J"}'
    )
    run = f"printf '%s\\n' '{warning}'"
    url = publish_tree(
        sandbox, tmp_path, component, {"Dockerfile": dockerfile(component, "1", run)}
    )
    done, task_id = build(sandbox, url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert task_state(session, task_id) == "CLOSED"
    result = session.getTaskResult(task_id)
    assert result["user_warnings"] == []
    build_info = session.getBuild(int(result["koji_builds"][0]))
    assert koji.BUILD_STATES[build_info["state"]] == "COMPLETE"
    assert b"USER_WARNING" in session.downloadTaskOutput(task_id, "osbs-build.log")


def test_label_with_control_characters_is_imported_escaped(sandbox, session, tmp_path):
    component = "e2e-evil-label"
    text = dockerfile(component, "1", "true") + 'LABEL description="bell\x07 esc\x1b[2J"\n'
    url = publish_tree(sandbox, tmp_path, component, {"Dockerfile": text})
    done, task_id = build(sandbox, url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert task_state(session, task_id) == "CLOSED"
    build_id = int(session.getTaskResult(task_id)["koji_builds"][0])
    assert koji.BUILD_STATES[session.getBuild(build_id)["state"]] == "COMPLETE"
    [archive] = session.listArchives(buildID=build_id)
    labels = archive["extra"]["docker"]["config"]["config"]["Labels"]
    assert labels["description"] == "bell\\x07 esc\\x1b[2J"
