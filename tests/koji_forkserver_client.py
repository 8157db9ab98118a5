"""The ``koji`` command the tests run: hands its command line to the koji fork server.

Started as ``python -IS`` (standard library only, no site packages), so it
costs milliseconds where an interpreter importing koji costs half a second.
It sends its arguments, environment, working directory and its stdin, stdout
and stderr descriptors to the fork server (tests/koji_forkserver.py), which
forks a process that runs the real koji script with them. This process stays
the one the test started: signals sent to it are passed on to that koji
process, and it exits as that process exited (with the same code, or killed
by the same signal). Killed itself, its connection closes and the server
kills the koji process.

Where the fork server cannot stand in for a fresh interpreter (no server, a
terminal on one of the three descriptors: koji's password prompt opens
/dev/tty) or declines (a Python or locale setting of the environment that
differs from its own), this runs the real koji command instead.
"""

import json
import os
import signal
import socket
import sys

SOCKET_VAR = "KCB_KOJI_FORKSERVER"
REAL_VAR = "KCB_KOJI_REAL"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)


def run_real(real: str) -> None:
    os.execv(real, [real, *sys.argv[1:]])


def exit_like(status: str) -> None:
    kind, _, number = status.partition(":")
    if kind == "signal":
        sig = int(number)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(int(number) if kind == "exit" else 1)


def main() -> None:
    real = os.environ[REAL_VAR]
    path = os.environ.get(SOCKET_VAR)
    if not path or any(os.isatty(fd) for fd in (0, 1, 2)):
        run_real(real)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        run_real(real)
    env = {key: value for key, value in os.environ.items() if key not in (SOCKET_VAR, REAL_VAR)}
    # Whether each signal is ignored here, as a background job's SIGINT and
    # SIGQUIT are: a koji started from here would inherit that.
    ignored = {int(sig): signal.getsignal(sig) == signal.SIG_IGN for sig in FORWARDED}
    request = json.dumps(
        {"argv": [real, *sys.argv[1:]], "env": env, "cwd": os.getcwd(), "ignored": ignored}
    )
    # Blocked until a handler forwards them: a signal arriving before the koji
    # process exists is held, then delivered to it.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    socket.send_fds(conn, [request.encode() + b"\n"], [0, 1, 2])
    reply = conn.makefile("rb")
    first = reply.readline().decode().strip()
    if first == "fallback":
        conn.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        run_real(real)

    def forward(sig, _frame):
        conn.sendall(f"{sig}\n".encode())

    for sig in FORWARDED:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    while True:
        try:
            status = reply.readline().decode().strip()
            break
        except InterruptedError:
            continue
    if not status:
        sys.stderr.write("koji fork server: the connection closed before koji exited\n")
        sys.exit(1)
    exit_like(status)


if __name__ == "__main__":
    main()
