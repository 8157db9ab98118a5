"""The tests' koji fork server: a run through it is the run the real koji command makes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from tests import koji_forkserver
from tests.koji_forkserver_client import REAL_VAR, SOCKET_VAR


@pytest.fixture
def real_koji() -> str:
    return os.environ[REAL_VAR]


@pytest.fixture
def server(tmp_path, real_koji):
    """A fork server of this test's own; its process, socket and client command."""
    process, socket_path, launcher = koji_forkserver.start(tmp_path, real_koji)
    yield process, socket_path, launcher
    process.terminate()
    process.wait(30)


@pytest.fixture
def hung_listener():
    """A listener that takes connections and never answers: koji waits on it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(30)
    yield listener
    listener.close()


@pytest.fixture
def hung_hub(tmp_path, hung_listener):
    """A koji config whose hub is hung_listener."""
    config = tmp_path / "hung.conf"
    port = hung_listener.getsockname()[1]
    config.write_text(f"[hung]\nserver = http://127.0.0.1:{port}/kojihub\n")
    return config


def run(command: str, *args: str, env: dict | None = None, cwd=None):
    done = subprocess.run(
        [command, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def client_env(socket_path, real_koji, **extra) -> dict:
    return dict(os.environ, **{SOCKET_VAR: str(socket_path), REAL_VAR: real_koji}, **extra)


def children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
        return {int(word) for word in handle.read().split()}


def test_run_answers_as_the_real_koji_does(server, real_koji):
    _, socket_path, launcher = server
    env = client_env(socket_path, real_koji)
    args = ("--noauth", "no-such-command")
    assert run(str(launcher), *args, env=env) == run(real_koji, *args, env=env)


def test_run_has_the_callers_working_directory(server, real_koji, tmp_path):
    _, socket_path, launcher = server
    (tmp_path / "here.conf").write_text("[here]\nserver = http://127.0.0.1:9/kojihub\n")
    env = client_env(socket_path, real_koji)
    args = ("-c", "here.conf", "-p", "here", "help")  # fails where here.conf is not found
    through_server = run(str(launcher), *args, env=env, cwd=tmp_path)
    assert (through_server, through_server[0]) == (run(real_koji, *args, env=env, cwd=tmp_path), 0)


def test_run_has_the_callers_environment(server, real_koji, tmp_path):
    _, socket_path, launcher = server
    (tmp_path / ".koji").mkdir()
    (tmp_path / ".koji" / "config").write_text("[athome]\nserver = http://127.0.0.1:9/kojihub\n")
    env = client_env(socket_path, real_koji, HOME=str(tmp_path))
    args = ("-p", "athome", "help")  # fails where HOME has no such profile
    through_server = run(str(launcher), *args, env=env)
    assert (through_server, through_server[0]) == (run(real_koji, *args, env=env), 0)


def waiting_run(server, real_koji, hung_hub) -> tuple[subprocess.Popen, int]:
    """A client whose koji waits on the hung hub; the client and the koji process's pid."""
    process, socket_path, launcher = server
    client = subprocess.Popen(
        [str(launcher), "-c", str(hung_hub), "-p", "hung", "--noauth", "moshimoshi"],
        env=client_env(socket_path, real_koji), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    [koji_pid] = children(process.pid)
    return client, koji_pid


def test_signal_to_the_client_ends_koji_as_it_would_end_koji(server, real_koji, hung_hub):
    client, _ = waiting_run(server, real_koji, hung_hub)
    client.send_signal(signal.SIGTERM)
    assert client.wait(30) == -signal.SIGTERM


def test_killed_client_takes_its_koji_with_it(server, real_koji, hung_hub):
    client, koji_pid = waiting_run(server, real_koji, hung_hub)
    client.kill()
    client.wait(30)
    process = server[0]
    deadline = time.monotonic() + 30
    while koji_pid in children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert koji_pid not in children(process.pid)


def ignores_sigint(pid: int) -> bool:
    """Whether the SigIgn mask the kernel shows for ``pid`` holds SIGINT (dropped on arrival)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        [mask] = [line.split()[1] for line in handle if line.startswith("SigIgn:")]
    return bool(int(mask, 16) & (1 << (signal.SIGINT - 1)))


def interrupted_status(
    command: str, env: dict, hung_hub, listener, sigint, koji_pid_of=None
) -> int:
    """The exit status of ``command`` sent SIGINT, then SIGTERM, while koji waits on the hub.

    ``sigint`` is the SIGINT disposition the command starts with (a test
    process may have inherited SIGINT ignored, as background jobs do). With
    SIG_IGN, that the SIGINT changed nothing is read off the kernel instead of
    waited for: the process running koji (``koji_pid_of(process)``, else the
    command's own) ignores it, so the kernel drops it, also when the fork
    server's client passes it on.
    """
    waiting = subprocess.Popen(
        [command, "-c", str(hung_hub), "-p", "hung", "--noauth", "moshimoshi"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )  # fmt: skip
    conn, _ = listener.accept()  # koji is in its first hub call
    with conn:
        waiting.send_signal(signal.SIGINT)
        if sigint == signal.SIG_IGN:
            running_koji = koji_pid_of(waiting) if koji_pid_of else waiting.pid
            assert ignores_sigint(running_koji)
            assert waiting.poll() is None
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return waiting.wait(30)  # koji needs well under a second to leave
        waiting.send_signal(signal.SIGTERM)
        return waiting.wait(30)


def test_interrupted_run_exits_as_the_real_koji_does(server, real_koji, hung_hub, hung_listener):
    _, socket_path, launcher = server
    env = client_env(socket_path, real_koji)
    statuses = [
        interrupted_status(command, env, hung_hub, hung_listener, signal.SIG_DFL)
        for command in (str(launcher), real_koji)
    ]
    assert statuses == [1, 1]  # koji's main catches the KeyboardInterrupt


def test_run_of_a_client_that_ignores_sigint_ignores_it_too(
    server, real_koji, hung_hub, hung_listener
):
    process, socket_path, launcher = server
    env = client_env(socket_path, real_koji)

    def forked_koji(_client) -> int:
        running = children(process.pid)
        assert len(running) == 1, f"the server runs {len(running)} koji processes after the SIGINT"
        return running.pop()

    statuses = [
        interrupted_status(command, env, hung_hub, hung_listener, signal.SIG_IGN, koji_pid_of)
        for command, koji_pid_of in ((str(launcher), forked_koji), (real_koji, None))
    ]
    assert statuses == [-signal.SIGTERM, -signal.SIGTERM]  # the SIGINT changed nothing


def test_other_interpreter_settings_get_a_real_interpreter(server):
    _, socket_path, _ = server
    env = dict(os.environ, PYTHONWARNINGS="ignore::UserWarning:kcb_forkserver_test")
    request = json.dumps({"argv": ["koji"], "env": env, "cwd": "/"}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(socket_path))
        socket.send_fds(conn, [request], [0, 1, 2])
        assert conn.makefile("rb").readline() == b"fallback\n"
