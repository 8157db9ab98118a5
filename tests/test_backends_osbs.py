"""The OSBS backend against the osbs-client 2.8 stand-in (tests/standins/osbs)."""

from __future__ import annotations

import sys

import pytest
import requests

from koji_containerbuild.backends.base import (
    REMOTE_SOURCES,
    BackendError,
    BuildRequest,
    Outcome,
    TransientBackendError,
)
from koji_containerbuild.config import OsbsSettings


class FakeClock:
    """Injectable clock: sleeping advances time instantly."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def osbs_conf(tmp_path):
    path = tmp_path / "osbs.conf"
    path.write_text(
        "[general]\nverbose = 0\n"
        "[default_binary]\nopenshift_url = https://osbs.example.com/\n"
        "default_buildtime_limit = 3600\nmax_buildtime_limit = 7200\n"
        "[default_source]\nopenshift_url = https://osbs.example.com/\n"
    )
    return str(path)


def make_backend(osbs_conf, clock, **settings):
    from koji_containerbuild.backends.osbs import create

    settings = OsbsSettings(conf_file=osbs_conf, retry_seconds=60.0, **settings)
    return create(settings, clock=clock, sleep=clock.sleep)


@pytest.fixture
def backend(fake_osbs, osbs_conf, clock):
    return make_backend(osbs_conf, clock)


def binary_request(**changes) -> BuildRequest:
    fields = dict(
        kind="binary",
        task_id=4321,
        owner="alice",
        target="demo",
        component="demo-image",
        platforms=["x86_64", "aarch64"],
        git_uri="git://git.example.com/demo-image",
        git_ref="0123abcd",
        git_branch="main",
        opts={"git_branch": "main"},
    )
    fields.update(changes)
    return BuildRequest(**fields)


def source_request(**changes) -> BuildRequest:
    fields = dict(
        kind="source",
        task_id=4322,
        owner="alice",
        target="demo",
        component="demo-image-source",
        platforms=[],
        source_build_id=77,
        source_build_nvr="demo-image-1.0-1",
        opts={"signing_intent": "release", "userdata": {"a": 1}},
    )
    fields.update(changes)
    return BuildRequest(**fields)


# -- creating builds ---------------------------------------------------------


def test_binary_build_gets_every_option(backend, fake_osbs):
    opts = {
        "git_branch": "main",
        "release": "3",
        "koji_parent_build": "base-1-1",
        "yum_repourls": ["https://repo.example.com/x.repo"],
        "dependency_replacements": ["gomod:foo:v1"],
        "userdata": {"ci": "yes"},
        "operator_csv_modifications_url": "https://example.com/mods.json",
    }
    request = binary_request(isolated=True, flatpak=True, opts=opts)
    handle = backend.start(request)
    kind, arguments = fake_osbs.created[0]
    assert kind == "binary"
    assert handle in fake_osbs.runs
    assert arguments == {
        "git_uri": "git://git.example.com/demo-image",
        "git_ref": "0123abcd",
        "git_branch": "main",
        "component": "demo-image",
        "flatpak": True,
        "git_commit_depth": None,
        "isolated": True,
        "koji_task_id": 4321,
        "target": "demo",
        "operator_csv_modifications_url": "https://example.com/mods.json",
        "platforms": ["x86_64", "aarch64"],
        "scratch": False,
        "user": "alice",
        "default_buildtime_limit": 3600,
        "max_buildtime_limit": 7200,
        "release": "3",
        "koji_parent_build": "base-1-1",
        "yum_repourls": ["https://repo.example.com/x.repo"],
        "dependency_replacements": ["gomod:foo:v1"],
        "userdata": {"ci": "yes"},
    }


def test_scratch_build_with_compose_ids_and_signing_intent(backend, fake_osbs):
    opts = {"git_branch": "main", "compose_ids": [1, 2], "signing_intent": "release"}
    backend.start(binary_request(scratch=True, opts=opts))
    arguments = fake_osbs.created[0][1]
    assert arguments["scratch"] is True
    assert arguments["compose_ids"] == [1, 2]
    assert arguments["signing_intent"] == "release"
    assert "operator_csv_modifications_url" in arguments  # the real signature's default
    assert arguments["operator_csv_modifications_url"] is None


def test_configuration_comes_from_the_configured_file_and_sections(
    backend,
    fake_osbs,
    osbs_conf,
):
    backend.start(binary_request())
    backend.start(source_request())
    sections = [(conf.conf_file, conf.conf_section) for conf in fake_osbs.configurations]
    assert sections == [(osbs_conf, "default_binary"), (osbs_conf, "default_source")]


def test_source_build_arguments(backend, fake_osbs):
    backend.start(source_request(scratch=True))
    kind, arguments = fake_osbs.created[0]
    assert kind == "source"
    assert arguments == {
        "component": "demo-image-source",
        "koji_task_id": 4322,
        "target": "demo",
        "sources_for_koji_build_nvr": "demo-image-1.0-1",
        "sources_for_koji_build_id": 77,
        "scratch": True,
        "user": "alice",
        "signing_intent": "release",
        "userdata": {"a": 1},
    }


def test_validation_error_becomes_a_sentence(backend, fake_osbs):
    with pytest.raises(BackendError, match="OSBS refused the build: The release parameter"):
        backend.start(binary_request(isolated=True))
    assert fake_osbs.created == []


def test_other_create_error_is_not_retried(backend, fake_osbs, clock):
    fake_osbs.fail("create_binary_container_build", ValueError("bad git repo"))
    with pytest.raises(BackendError, match="could not start the build: bad git repo"):
        backend.start(binary_request())
    assert clock.sleeps == []


def test_backend_is_found_by_its_config_name(fake_osbs, osbs_conf):
    from koji_containerbuild.backends import create_backend

    backend = create_backend("osbs", OsbsSettings(conf_file=osbs_conf))
    assert backend.name == "osbs"
    assert backend.imports_builds is True


def test_missing_osbs_client_says_which_package_to_install(monkeypatch, osbs_conf):
    monkeypatch.setitem(sys.modules, "osbs", None)
    from koji_containerbuild.backends import create_backend

    with pytest.raises(BackendError, match="install the osbs-client package"):
        create_backend("osbs", OsbsSettings(conf_file=osbs_conf))


# -- transient faults ----------------------------------------------------------


def connection_refused(osbs_exceptions):
    return osbs_exceptions.OsbsException(cause=requests.ConnectionError("Connection refused"))


@pytest.mark.parametrize("fault", ["connection", "http503", "network"])
def test_transient_create_fault_is_retried(backend, fake_osbs, clock, fault):
    from osbs import exceptions

    error = {
        "connection": connection_refused(exceptions),
        "http503": exceptions.OsbsResponseException(b'{"message": "unavailable"}', 503),
        "network": exceptions.OsbsNetworkException("https://osbs", "reset", 0),
    }[fault]
    fake_osbs.fail("create_binary_container_build", error, error)
    handle = backend.start(binary_request())
    assert handle in fake_osbs.runs
    assert clock.sleeps == [1.0, 2.0]


def test_transient_faults_give_up_after_retry_seconds(backend, fake_osbs, clock):
    from osbs import exceptions

    fake_osbs.fail("create_binary_container_build", *[connection_refused(exceptions)] * 50)
    with pytest.raises(TransientBackendError, match=r"create the build.*Connection refused"):
        backend.start(binary_request())
    assert sum(clock.sleeps) == pytest.approx(60.0)
    assert fake_osbs.created == []


def test_transient_fault_while_reading_results_is_retried(backend, fake_osbs, clock):
    from osbs import exceptions

    handle = backend.start(binary_request())
    fake_osbs.fail("get_build_results", exceptions.OsbsResponseException("gateway", 502))
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert clock.sleeps == [1.0]


def test_client_error_is_not_retried(backend, fake_osbs, clock):
    from osbs import exceptions

    handle = backend.start(binary_request())
    fake_osbs.fail("wait_for_build_to_finish", exceptions.OsbsResponseException("forbidden", 403))
    with pytest.raises(BackendError, match="wait for the build: forbidden"):
        backend.wait(handle)
    assert clock.sleeps == []


# -- outcomes --------------------------------------------------------------------


def test_success_reports_all_repositories_build_id_and_platforms(backend, fake_osbs):
    fake_osbs.script(
        results={
            "repositories": {
                "primary": ["reg/demo:1.0-1"],
                "unique": ["reg/demo:unique-1"],
                "floating": ["reg/demo:latest", "reg/demo:1.0-1"],
            },
            "koji-build-id": 1234,
            "platforms_result": {"platforms": ["x86_64", "s390x"]},
        }
    )
    handle = backend.start(binary_request())
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.repositories == ["reg/demo:1.0-1", "reg/demo:unique-1", "reg/demo:latest"]
    assert result.koji_build_id == 1234
    assert result.platforms == ["x86_64", "s390x"]
    assert result.build_name == handle


def test_scratch_success_has_no_koji_build(backend, fake_osbs):
    fake_osbs.script(results={"repositories": {"primary": [], "unique": ["reg/x:u"]}})
    result = backend.wait(backend.start(binary_request(scratch=True)))
    assert result.koji_build_id is None
    assert result.repositories == ["reg/x:u"]


def test_failure_carries_the_osbs_error_and_build_name(backend, fake_osbs):
    fake_osbs.script(state="Failed", error_message="Error in plugin check_base_image: nope;\n")
    handle = backend.start(binary_request())
    result = backend.wait(handle)
    assert result.outcome is Outcome.FAILED
    assert result.reason == f"OSBS build {handle} failed: Error in plugin check_base_image: nope"
    assert result.build_name == handle


@pytest.mark.parametrize("reason", ["PipelineRunCancelled", "Cancelled"])
def test_cancelled_in_osbs_is_reported_as_cancelled(backend, fake_osbs, reason):
    fake_osbs.script(cancel_reason=reason)
    handle = backend.start(binary_request())
    backend.cancel(handle)
    assert fake_osbs.cancelled == [handle]
    assert backend.wait(handle).outcome is Outcome.CANCELLED


def test_cancel_of_a_build_that_is_gone_is_harmless(backend, fake_osbs):
    backend.cancel("nonexistent-build")
    assert fake_osbs.cancelled == []


def test_finished_build_is_removed_when_configured(fake_osbs, osbs_conf, clock):
    backend = make_backend(osbs_conf, clock, remove_finished_builds=True)
    handle = backend.start(binary_request())
    backend.wait(handle)
    backend.cleanup(handle)
    assert fake_osbs.removed == [handle]
    assert backend.lookup(handle) is False


def test_finished_build_is_kept_by_default(backend, fake_osbs):
    handle = backend.start(binary_request())
    backend.wait(handle)
    backend.cleanup(handle)
    assert fake_osbs.removed == []
    assert backend.lookup(handle) is True


def test_lookup_of_a_build_created_before_a_restart(backend, fake_osbs):
    from fake_openshift import BuildScript

    fake_osbs.add_run("demo-image-old", BuildScript(tasks={"t": ["done"]}))
    assert backend.lookup("demo-image-old") is True
    assert backend.lookup("never-existed") is False
    assert fake_osbs.created == []


# -- logs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "platform"),
    [
        ("binary-container-build-x86-64", "x86_64"),
        ("binary-container-build-aarch64", "aarch64"),
        ("binary-container-build-ppc64le", "ppc64le"),
        ("binary-container-build-s390x", "s390x"),
        ("binary-container-hermeto", REMOTE_SOURCES),
        ("binary-container-cachito", REMOTE_SOURCES),
        ("binary-container-prebuild", None),
        ("binary-container-exit", None),
    ],
)
def test_task_names_map_to_platforms(task, platform):
    from koji_containerbuild.backends.osbs import platform_of

    assert platform_of(task) == platform


def two_arch_script():
    return {
        "binary-container-prebuild": ["pre 1", "pre 2"],
        "binary-container-build-x86-64": [f"amd {n}" for n in range(5)],
        "binary-container-build-s390x": [f"s390 {n}" for n in range(3)],
    }


def per_task(lines):
    grouped: dict = {}
    for platform, line in lines:
        grouped.setdefault(platform, []).append(line)
    return grouped


def test_logs_deliver_every_line_with_its_platform(backend, fake_osbs):
    fake_osbs.script(tasks=two_arch_script())
    handle = backend.start(binary_request())
    assert per_task(backend.logs(handle)) == {
        None: ["pre 1", "pre 2"],
        "x86_64": [f"amd {n}" for n in range(5)],
        "s390x": [f"s390 {n}" for n in range(3)],
    }
    assert fake_osbs.calls.count(("get_build_logs", (handle, True, True))) == 1


@pytest.mark.parametrize("break_with", ["network", "silent_end"])
def test_broken_stream_is_resumed_without_repeats(
    backend,
    fake_osbs,
    clock,
    break_with,
):
    from osbs import exceptions

    error = exceptions.OsbsNetworkException("https://osbs", "reset", 0)
    fake_osbs.script(
        tasks=two_arch_script(),
        stream_breaks=[(4, error if break_with == "network" else None), (7, error)],
    )
    handle = backend.start(binary_request())
    lines = per_task(backend.logs(handle))
    assert lines["x86_64"] == [f"amd {n}" for n in range(5)]
    assert lines["s390x"] == [f"s390 {n}" for n in range(3)]
    assert lines[None] == ["pre 1", "pre 2"]
    assert fake_osbs.runs[handle].log_opens == 3


def test_stream_that_stays_broken_ends_in_a_clear_error(backend, fake_osbs, clock):
    from osbs import exceptions

    error = exceptions.OsbsNetworkException("https://osbs", "reset", 0)
    fake_osbs.script(tasks=two_arch_script(), stream_breaks=[(1, error)] + [(0, error)] * 100)
    handle = backend.start(binary_request())
    delivered = []
    with pytest.raises(TransientBackendError, match="task log is incomplete"):
        for item in backend.logs(handle):
            delivered.append(item)
    assert len(delivered) == 1
    assert sum(clock.sleeps) == pytest.approx(60.0)


def test_permanent_stream_error_is_reported(backend, fake_osbs):
    from osbs import exceptions

    fake_osbs.script(
        tasks=two_arch_script(),
        stream_breaks=[(2, exceptions.OsbsAuthException("token expired"))],
    )
    handle = backend.start(binary_request())
    with pytest.raises(BackendError, match="token expired"):
        list(backend.logs(handle))


def bad_byte_script():
    """A line that is not UTF-8 in the middle of one task, lines after it there and elsewhere."""
    return {
        "binary-container-prebuild": ["pre 1", "pre 2"],
        "binary-container-build-x86-64": ["amd 0", "amd 1", b"amd \xff bad", "amd 3", "amd 4"],
        "binary-container-build-s390x": [f"s390 {n}" for n in range(6)],
        "binary-container-exit": ["exit 1"],
    }


def is_note(line) -> bool:
    return isinstance(line, str) and line.startswith("koji-containerbuild:")


def without_notes(lines):
    return [(platform, line) for platform, line in lines if not is_note(line)]


def test_non_utf8_line_and_the_rest_of_every_task_are_delivered(backend, fake_osbs):
    script = bad_byte_script()
    fake_osbs.script(tasks=script)
    handle = backend.start(binary_request())
    delivered = list(backend.logs(handle))
    lines = per_task(without_notes(delivered))
    assert lines["x86_64"] == ["amd 0", "amd 1", b"amd \xff bad", "amd 3", "amd 4"]
    assert lines["s390x"] == [f"s390 {n}" for n in range(6)]
    # prebuild and exit both belong to no platform: each in its own order, once
    assert [line for line in lines[None] if line.startswith("pre")] == ["pre 1", "pre 2"]
    assert [line for line in lines[None] if line.startswith("exit")] == ["exit 1"]
    notes = [line for _, line in delivered if is_note(line)]
    assert len(notes) == 1 and "binary-container-build-x86-64" in notes[0]
    # osbs-client's stream was not re-opened into the same failure
    assert fake_osbs.runs[handle].log_opens == 1
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert "logs_incomplete" not in result.extra


def test_non_utf8_first_line_then_tasks_never_streamed(backend, fake_osbs):
    fake_osbs.script(
        tasks={
            "binary-container-build-x86-64": [b"\xfe\xff", "amd 1"],
            "binary-container-build-aarch64": ["arm 0", "arm 1"],
        }
    )
    handle = backend.start(binary_request())
    assert without_notes(backend.logs(handle)) == [
        ("x86_64", b"\xfe\xff"),
        ("x86_64", "amd 1"),
        ("aarch64", "arm 0"),
        ("aarch64", "arm 1"),
    ]


def test_rest_of_the_log_reaches_the_task_logs(backend, fake_osbs, sandbox_hub, tmp_path):
    from koji_containerbuild.logs import TaskLogs, stream_build_logs

    fake_osbs.script(tasks=bad_byte_script())
    handle = backend.start(binary_request())
    session = sandbox_hub.session("builder")
    logs = TaskLogs(session, "tasks/1/1", str(tmp_path / "local"), sandbox_hub.workdir, 0.01)
    stream_build_logs(backend, handle, logs)
    logs.close()
    with open(tmp_path / "koji" / "work" / "tasks" / "1" / "1" / "x86_64.log", "rb") as handle:
        x86 = handle.read()
    assert x86.endswith(b"amd 0\namd 1\namd \xff bad\namd 3\namd 4\n")
    with open(tmp_path / "local" / "osbs-build.log", "rb") as handle:
        build_log = handle.read().splitlines()
    assert [line for line in build_log if line.startswith(b"s390")] == [
        f"s390 {n}".encode() for n in range(6)
    ]
    assert build_log.count(b"amd 3") == 1


def test_transient_fault_while_reading_the_rest_is_retried(backend, fake_osbs, clock):
    from osbs import exceptions

    fake_osbs.script(tasks=bad_byte_script())
    fake_osbs.fail("openshift_get", exceptions.OsbsNetworkException("https://osbs", "reset", 0))
    handle = backend.start(binary_request())
    lines = per_task(without_notes(backend.logs(handle)))
    assert lines["x86_64"] == ["amd 0", "amd 1", b"amd \xff bad", "amd 3", "amd 4"]
    assert clock.sleeps


def test_rest_that_cannot_be_read_is_noted_and_marked_incomplete(backend, fake_osbs):
    fake_osbs.script(tasks=bad_byte_script(), pod_log_status=403)
    handle = backend.start(binary_request())
    delivered = list(backend.logs(handle))
    assert ("x86_64", b"amd \xff bad") in delivered
    platform, note = delivered[-1]
    assert platform == "x86_64"
    assert is_note(note)
    assert "is incomplete" in note and "could not be read" in note
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.extra["logs_incomplete"] == note
