"""A fork server for the real koji command, so the tests' koji runs skip koji's imports.

The suite runs the koji command about two hundred times, and each run spent
about 0.45 s of CPU here importing koji, requests and koji_cli before it
read its first option: a fifth of the whole suite's CPU. This server imports
them once; for each run, the client (tests/koji_forkserver_client.py, the
``koji`` the tests run) hands over its command line, environment, working
directory and standard descriptors, and the server forks a process that sets
them up as a fresh interpreter would and runs the real koji script as
``__main__``. The koji code, its plugin loading, config reading and hub calls
are koji's own; only the import of the modules above is shared, and the
module teardown at exit is skipped (see :func:`leave`).

Nothing of the product runs here: this is the tests' harness, and the
sandbox runs whatever ``KCB_KOJI`` names (see koji_containerbuild.sandbox.env.layout).

    python tests/koji_forkserver.py SOCKET KOJI_SCRIPT
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

CLIENT = Path(__file__).with_name("koji_forkserver_client.py")
#: Settings read once, when an interpreter starts: a run whose environment
#: sets them otherwise than the server's gets a real interpreter instead.
STARTUP_PREFIXES = ("PYTHON", "LC_")
STARTUP_NAMES = ("LANG", "LANGUAGE")
FDS_PER_REQUEST = 3
MAX_REQUEST = 1 << 20


def startup_settings(env: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in env.items()
        if (key.startswith(STARTUP_PREFIXES) or key in STARTUP_NAMES) and key != "PYTHONPATH"
    }


def preload() -> None:
    """What every koji run imports before it reads its options, and the schema library.

    The CLI plugin's commands validate their options with jsonschema, whose
    import costs another 0.13 s. This project's own modules are not
    preloaded: each run imports them from its own PYTHONPATH.
    """
    import jsonschema
    import koji
    import koji.plugin
    import koji.util
    import koji_cli.commands
    import koji_cli.lib

    del jsonschema, koji, koji_cli  # imported for sys.modules only


def exit_status(code: object) -> int:
    """The exit status the interpreter makes of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def leave(code: int) -> None:
    """End a koji run as the interpreter ends, without tearing down its modules.

    As at any interpreter's exit: non-daemon threads are waited for, the
    atexit functions run, output is flushed (a failed flush exits 120), an
    interrupted run dies of SIGINT. The module teardown that follows in a
    real exit is skipped: koji's script has logged out by then, and in a
    forked process it writes to every page shared with the server (about
    0.17 s here, more than the rest of a koji run).
    """
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120 if code == 0 else code
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


class Run:
    """One koji process and the client connection it answers to."""

    def __init__(self, conn: socket.socket, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.pending = b""


class Server:
    def __init__(self, socket_path: str, koji_script: str) -> None:
        self.koji_script = koji_script
        self.settings = startup_settings(dict(os.environ))
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # bound under another name and renamed once it listens: start() takes
        # the socket file for a ready server, and a connect() between bind()
        # and listen() is refused
        binding = f"{socket_path}.{os.getpid()}"
        self.listener.bind(binding)
        self.listener.listen(64)
        os.rename(binding, socket_path)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.runs: dict[int, Run] = {}

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    self.accept()
                else:
                    kind, run = key.data
                    if kind == "exit":
                        self.finish(run)
                    else:
                        self.read_client(run)

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            request, fds = self.receive(conn)
        except (OSError, ValueError):
            conn.close()
            return
        if len(fds) != FDS_PER_REQUEST or startup_settings(request["env"]) != self.settings:
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                conn.sendall(b"fallback\n")
            conn.close()
            return
        # Signals wait, blocked, until the child has the client's dispositions:
        # one the client forwards at once would otherwise run the server's
        # handlers in the child, inside os.fork's at-fork callbacks, where
        # Python drops what they raise.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        pid = os.fork()
        if pid == 0:
            self.become_koji(conn, fds, request, mask)  # does not return
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for fd in fds:
            os.close(fd)
        run = Run(conn, pid)
        with contextlib.suppress(OSError):
            conn.sendall(b"started\n")
        self.runs[pid] = run
        self.selector.register(run.pidfd, selectors.EVENT_READ, ("exit", run))
        self.selector.register(conn, selectors.EVENT_READ, ("client", run))

    @staticmethod
    def receive(conn: socket.socket) -> tuple[dict, list[int]]:
        """The request line and the three descriptors sent with it."""
        message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, FDS_PER_REQUEST)
        while message and not message.endswith(b"\n"):
            more = conn.recv(MAX_REQUEST)
            if not more:
                break
            message += more
        try:
            return json.loads(message), fds
        except ValueError:
            for fd in fds:
                os.close(fd)
            raise

    def read_client(self, run: Run) -> None:
        """A signal number to pass on, or the end of the client: kill its koji."""
        try:
            data = run.conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(run.conn)
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.pid, signal.SIGKILL)
            return
        run.pending += data
        *lines, run.pending = run.pending.split(b"\n")
        for line in lines:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(run.pid, int(line))

    def finish(self, run: Run) -> None:
        _, status = os.waitpid(run.pid, 0)
        self.selector.unregister(run.pidfd)
        os.close(run.pidfd)
        if os.WIFSIGNALED(status):
            answer = f"signal:{os.WTERMSIG(status)}\n"
        else:
            answer = f"exit:{os.waitstatus_to_exitcode(status)}\n"
        with contextlib.suppress(OSError):
            run.conn.sendall(answer.encode())
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(run.conn)
        run.conn.close()
        del self.runs[run.pid]

    def become_koji(
        self, conn: socket.socket, fds: list[int], request: dict, mask: set[int]
    ) -> None:
        """In the forked child: the process a fresh ``koji`` would have been."""
        # None of the server's descriptors belongs to this process.
        for fd in self.own_fds():
            with contextlib.suppress(OSError):
                os.close(fd)
        conn.close()
        # The dispositions of an interpreter the client would have started:
        # what it ignores stays ignored, the rest as Python sets them up.
        for number, ignored in request["ignored"].items():
            sig = int(number)
            default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            signal.signal(sig, signal.SIG_IGN if ignored else default)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        argv = request["argv"]
        sys.argv = list(argv)
        # sys.path as the interpreter builds it: the script's directory, then
        # the environment's PYTHONPATH, then the rest of the server's.
        extra = [
            entry for entry in request["env"].get("PYTHONPATH", "").split(os.pathsep) if entry
        ]
        sys.path[:1] = [os.path.dirname(os.path.abspath(argv[0])), *extra]
        try:
            runpy.run_path(self.koji_script, run_name="__main__")
            code = 0
        except SystemExit as leaving:
            code = exit_status(leaving.code)
        except KeyboardInterrupt:
            traceback.print_exc()
            code = -signal.SIGINT
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        leave(code)

    def own_fds(self) -> Iterator[int]:
        yield self.listener.fileno()
        yield self.selector.fileno()
        for run in self.runs.values():
            yield run.conn.fileno()
            yield run.pidfd


def script_interpreter(script: str) -> str:
    """The interpreter of the koji script's #! line (this one's if it names none)."""
    with open(script, "rb") as handle:
        first = handle.readline().decode(errors="replace").strip()
    words = first[2:].split() if first.startswith("#!") else []
    return words[0] if len(words) == 1 and os.access(words[0], os.X_OK) else sys.executable


def start(directory: Path, koji_script: str) -> tuple[subprocess.Popen, Path, Path]:
    """Start a fork server; its process, socket and the client command to run as koji."""
    socket_path = directory / "koji.sock"
    launcher = directory / "koji"
    launcher.write_text(f"#!{sys.executable} -IS\n" + CLIENT.read_text())
    launcher.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen(
        [script_interpreter(koji_script), __file__, str(socket_path), koji_script],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the koji fork server did not start (exit {process.returncode})")
        time.sleep(0.02)
    return process, socket_path, launcher


def main(argv: list[str]) -> None:
    socket_path, koji_script = argv
    preload()
    server = Server(socket_path, koji_script)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server_pid = os.getpid()
    try:
        server.serve()
    finally:
        # The forked koji processes leave through here too: only the server kills.
        if os.getpid() == server_pid:
            for run in list(server.runs.values()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.pid, signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1:])
