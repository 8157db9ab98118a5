"""TaskLogs' files (logs/files.py): the build log, one file per platform, unsafe names."""

from __future__ import annotations

import os

import pytest

from koji_containerbuild.backends.base import REMOTE_SOURCES
from tests.logs_harness import make_logs


def test_every_line_goes_to_build_log_and_platform_lines_to_their_own_file(
    hub, tmp_path, work_dir
):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write(None, "prebuild")
    logs.write("x86_64", "amd line")
    logs.write("aarch64", "arm line")
    logs.write(REMOTE_SOURCES, "fetching deps")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"prebuild\namd line\narm line\nfetching deps\n"
    assert hub.uploaded("x86_64.log") == b"amd line\n"
    assert hub.uploaded("aarch64.log") == b"arm line\n"
    assert hub.uploaded("remote-sources.log") == b"fetching deps\n"
    names = [os.path.basename(path) for path in logs.files()]
    assert names == [
        "osbs-build.log",
        "x86_64.log",
        "aarch64.log",
        "remote-sources.log",
    ]


def test_platform_that_is_not_a_safe_file_name_goes_only_to_build_log(hub, tmp_path, work_dir):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write("../../etc/passwd", "sneaky")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"sneaky\n"
    assert [os.path.basename(path) for path in logs.files()] == ["osbs-build.log"]


@pytest.mark.parametrize(
    "platform", ["user_warnings", "osbs-build", "x86_64/..", "x86.64", "arm 64", "s390x\n", ""]
)
def test_platform_that_is_not_an_arch_name_goes_only_to_build_log(
    hub, tmp_path, work_dir, platform
):
    logs = make_logs(hub, tmp_path, work_dir)
    logs.write(platform, "odd platform")
    logs.close()
    assert hub.uploaded("osbs-build.log") == b"odd platform\n"
    assert [os.path.basename(path) for path in logs.files()] == ["osbs-build.log"]
    assert logs.user_warnings == []
