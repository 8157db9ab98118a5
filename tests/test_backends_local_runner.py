"""The local runner (runner.py, procs.py) with real buildah: cancel and the task process's end.

Cancel stops every process of the runner and withdraws what it pushed; a
build outlives the task process that started it and is followed again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from koji_containerbuild.backends.base import Outcome
from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry
from koji_containerbuild.backends.local.backend import LocalBackend
from koji_containerbuild.backends.local.procs import runner_tree
from tests.local_backend_fixture import backend, make_request, registry_digest, settings  # noqa: F401 - fixtures


def running_processes_of(runner):
    return sorted(runner_tree(runner["pid"], runner["pgid"]))


def test_cancel_stops_every_process_and_pushes_no_tag(tmp_path, backend, settings, base_image):
    request = make_request(
        tmp_path,
        f"FROM {base_image}\nRUN echo sleeping-now && sleep 60\n",
        release="cancel",
    )
    handle = backend.start(request)
    for _platform, line in backend.logs(handle):
        if line == "sleeping-now":
            break
    runner = bh.read_json(os.path.join(settings.state_dir, handle, bh.RUNNER_FILE))
    assert running_processes_of(runner)

    backend.cancel(handle)

    assert running_processes_of(runner) == []
    assert backend.wait(handle).outcome is Outcome.CANCELLED
    repo = f"{settings.registry}/demo/app"
    assert registry_digest(settings, f"{repo}:1.0-cancel") is None
    backend.cancel(handle)  # a second cancel of an ended build is harmless


def test_cancel_withdraws_pushed_unique_tags(tmp_path, backend, settings, base_image):
    repo = f"{settings.registry}/demo/withdrawn"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{base_image}",
            f"docker://{repo}:1-1-9-20250101",
        ],
        check=True,
    )
    build_dir = tmp_path / "fake-build"
    build_dir.mkdir()
    bh.write_json(
        str(build_dir / bh.PUSHED_FILE),
        {"repository": repo, "unique_tags": ["1-1-9-20250101"], "digests": []},
    )

    assert registry.withdraw_pushes(str(build_dir), bh.settings_dict(settings)) == []
    assert registry_digest(settings, f"{repo}:1-1-9-20250101") is None
    assert registry_digest(settings, base_image) is not None


STARTER = """
import sys, time
from koji_containerbuild.backends.local.backend import create
from koji_containerbuild.backends.base import BuildRequest
from koji_containerbuild.config import LocalSettings
from koji_containerbuild.hostarch import host_arch
import json
settings, request = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(create(LocalSettings(**settings)).start(BuildRequest(**request)), flush=True)
time.sleep(600)
"""


def test_build_survives_the_task_process_and_is_followed_again(
    tmp_path, backend, settings, base_image
):
    import dataclasses

    request = make_request(
        tmp_path, f"FROM {base_image}\nRUN sleep 2 && echo after-restart\n", release="re"
    )
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            STARTER,
            json.dumps(dataclasses.asdict(settings)),
            json.dumps(dataclasses.asdict(request)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    handle = starter.stdout.readline().strip()
    starter.send_signal(signal.SIGKILL)
    starter.wait()

    follower = LocalBackend(settings)
    assert follower.lookup(handle)
    lines = [line for _, line in follower.logs(handle)]
    result = follower.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED, result.reason
    assert "after-restart" in lines
    repo = f"{settings.registry}/demo/app"
    assert registry_digest(settings, f"{repo}:1.0-re") == result.images[0].digests[bh.MANIFEST_V2]


def test_stale_object_of_the_task_process_cannot_close_the_runners_files(tmp_path):
    """A task-process file object closed late by the garbage collector in the runner."""
    from koji_containerbuild.backends.local.runner import blank_inherited_descriptors

    pid = os.fork()
    if pid == 0:  # the runner's side of start_detached, in a child of its own
        code = 1
        try:
            stale = open(tmp_path / "task.log", "wb")  # noqa: SIM115 - the task's, left open
            blank_inherited_descriptors()
            with open(tmp_path / "build.log", "wb", buffering=0) as own:
                stale.close()  # as the garbage collector would, any time later
                own.write(b"still open\n")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert (os.waitstatus_to_exitcode(status), (tmp_path / "build.log").read_bytes()) == (
        0,
        b"still open\n",
    )
