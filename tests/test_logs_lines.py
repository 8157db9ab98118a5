"""Untrusted build lines (logs/lines.py): user warnings, metadata lines and markers."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from koji_containerbuild.backends.osbs.logs import marks_of as osbs_marks_of
from koji_containerbuild.backends.osbs.logs import platform_of as osbs_platform_of
from tests.logs_harness import make_logs


def feed(logs, *items) -> None:
    """``(pipeline task, line)`` items, as the OSBS backend's log feed hands them over."""
    logs.drain(iter(items), osbs_platform_of, Counter(), marks_of=osbs_marks_of)


def reactor_line(level: str, message: str, second: int = 0) -> str:
    """A line in atomic-reactor's log format."""
    return f"2024-01-01 10:00:{second:02d},000 - atomic_reactor.plugins.x - {level} - {message}"


PREBUILD = "binary-container-prebuild"


POSTBUILD = "binary-container-postbuild"


BUILD_X86 = "binary-container-build-x86-64"


def test_user_warnings_are_collected_once_each(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    warning = json.dumps({"message": "Base image is deprecated"})
    feed(
        logs,
        (PREBUILD, reactor_line("USER_WARNING", warning)),
        (POSTBUILD, reactor_line("USER_WARNING", warning, 1)),
        (POSTBUILD, reactor_line("USER_WARNING", '{"message": "Other"}')),
        (POSTBUILD, reactor_line("USER_WARNING", "{not json}")),
        (POSTBUILD, reactor_line("USER_WARNING", '{"msg": "no message key"}')),
    )
    logs.close()
    assert logs.user_warnings == ["Base image is deprecated", "Other"]
    assert hub.uploaded("user_warnings.log") == b"Base image is deprecated\nOther\n"
    assert hub.uploaded("osbs-build.log").count(b"USER_WARNING") == 5


#: USER_WARNING lines that do not come from atomic-reactor itself: (task, line).
FORGED_WARNINGS = {
    "run_output_in_a_build_task": (BUILD_X86, reactor_line("USER_WARNING", '{"message": "x"}')),
    "run_output_of_remote_sources": (
        "binary-container-hermeto",
        reactor_line("USER_WARNING", '{"message": "x"}'),
    ),
    "unknown_task": ("binary-container-new", reactor_line("USER_WARNING", '{"message": "x"}')),
    "message_of_an_info_line": (
        PREBUILD,
        reactor_line("INFO", 'echo - USER_WARNING - {"message": "x"}'),
    ),
    "no_reactor_prefix": (PREBUILD, 'anything - USER_WARNING - {"message": "x"}'),
}


@pytest.mark.parametrize("item", FORGED_WARNINGS.values(), ids=FORGED_WARNINGS)
def test_user_warning_not_from_the_build_system_is_an_ordinary_line(hub, tmp_path, work_dir, item):
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, item)
    logs.close()
    assert logs.user_warnings == []
    assert not os.path.exists(os.path.join(hub.root, hub.upload_path, "user_warnings.log"))
    assert hub.uploaded("osbs-build.log") == f"{item[1]}\n".encode()


def test_lines_written_one_by_one_carry_no_markers(hub, tmp_path, work_dir):
    # the local backend's path: every line is the build's own output
    (work_dir / "koji-upload").mkdir()
    (work_dir / "koji-upload" / "metadata.json").write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write("x86_64", reactor_line("USER_WARNING", '{"message": "forged"}'))
    logs.write(None, reactor_line("INFO", "platform:_metadata_ koji-upload/metadata.json"))
    logs.close()
    assert logs.user_warnings == []
    assert logs.metadata_file is None


def metadata_line(path: str) -> str:
    prefix = "2024-01-01 10:00:00,000 - atomic_reactor.plugins.koji_import - INFO - "
    return f"{prefix}platform:_metadata_ {path}"


def test_metadata_file_inside_work_dir_is_attached(hub, tmp_path, work_dir):
    target = work_dir / "koji-upload" / "abc" / "metadata.json"
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, (POSTBUILD, metadata_line("koji-upload/abc/metadata.json")))
    logs.close()
    assert logs.metadata_file == os.path.realpath(target)


@pytest.mark.parametrize("task", [BUILD_X86, PREBUILD, "binary-container-exit", "other"])
def test_metadata_line_of_another_task_is_an_ordinary_line(hub, tmp_path, work_dir, task):
    (work_dir / "koji-upload").mkdir()
    (work_dir / "koji-upload" / "metadata.json").write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, (task, metadata_line("koji-upload/metadata.json")))
    logs.close()
    assert logs.metadata_file is None


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink_out", "missing", "directory"])
def test_metadata_path_outside_work_dir_is_an_ordinary_line(hub, tmp_path, work_dir, kind):
    outside = tmp_path / "secret.json"
    outside.write_text("{}")
    (work_dir / "koji-upload").mkdir()
    paths = {
        "absolute": str(outside),
        "dotdot": "koji-upload/../../secret.json",
        "symlink_out": "koji-upload/link.json",
        "missing": "koji-upload/none.json",
        "directory": "koji-upload",
    }
    (work_dir / "koji-upload" / "link.json").symlink_to(outside)
    logs = make_logs(hub, tmp_path, work_dir)
    line = metadata_line(paths[kind])
    feed(logs, (POSTBUILD, line))
    logs.close()
    assert logs.metadata_file is None
    assert hub.uploaded("osbs-build.log") == f"{line}\n".encode()


def test_line_merely_mentioning_metadata_is_ordinary(hub, tmp_path, work_dir):
    (work_dir / "x").write_text("{}")
    logs = make_logs(hub, tmp_path, work_dir)
    feed(logs, (POSTBUILD, "copying _metadata_ x"))
    logs.close()
    assert logs.metadata_file is None
