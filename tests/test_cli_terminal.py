"""What the CLI writes to a terminal from a build is shown, never obeyed.

Build logs (--follow-logs) and texts from the task result reach the user's
terminal; escape sequences in them (window title, clear screen, C1 controls)
are shown escaped as ``less`` shows them. A pipe gets the log bytes unchanged.
"""

from __future__ import annotations

import io
import os
import pty
import subprocess
import threading

import pytest

from koji_containerbuild.cli.watch import (
    TaskOutcome,
    TerminalSafeStream,
    print_outcome,
    terminal_safe,
)
from tests.cli_harness import SOURCE
from tests.test_cli_watch import SUCCESS, StandInBuilder, _run_with_builder

HOSTILE_LOG = b"STEP 1/2: RUN make\n\x1b]0;pwned\x07\x1b[2J\x1b[Hdone \xff\n"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;title\x07", "^[]0;title^G"),
        ("\x1b[2J\x1b[H", "^[[2J^[[H"),
        ("over\rwrite", "over^Mwrite"),
        ("line\r\nnext\tcell\n", "line\r\nnext\tcell\n"),
        ("\x9b2J \x9d0;t\x9c", "<U+009B>2J <U+009D>0;t<U+009C>"),
        ("\u202eevil", "<U+202E>evil"),
        ("\x7f\x00", "^?^@"),
        ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d"),
    ],
    ids=["osc title", "clear screen", "bare CR", "CRLF, tab", "C1", "bidi", "DEL NUL", "text"],
)
def test_terminal_safe_shows_controls_as_less_does(text, shown):
    assert terminal_safe(text) == shown


def test_log_bytes_are_decoded_across_chunks_and_bad_bytes_shown_in_hex():
    out = io.StringIO()
    stream = TerminalSafeStream(out)
    stream.buffer.write(b"caf\xc3")
    stream.buffer.write(b"\xa9 \xff\x1b[2J\n")
    assert out.getvalue() == "caf\u00e9 <FF>^[[2J\n"


def test_result_texts_are_printed_terminal_safe():
    outcome = TaskOutcome(1, "url", "CLOSED")
    outcome.result = {
        "repositories": ["reg/app:1\x9d0;pwned\x9c"],
        "user_warnings": ["\u202ewarning"],
        "koji_builds": [],
        "build_name": "x\x9b2J",
    }
    out = io.StringIO()
    print_outcome(outcome, out)
    printed = out.getvalue()
    assert "reg/app:1<U+009D>0;pwned<U+009C>" in printed
    assert "<U+202E>warning" in printed
    assert "build_name: x<U+009B>2J" in printed


def test_failure_text_is_printed_terminal_safe():
    outcome = TaskOutcome(1, "url", "FAILED", error="BuildError: bad\x9b2J")
    out = io.StringIO()
    print_outcome(outcome, out)
    assert out.getvalue() == "Task 1 failed: BuildError: bad<U+009B>2J\n"


def _hostile_log_then_success(log: bytes):
    def act(builder, task_id):
        builder.open(task_id)
        builder.upload(task_id, "x86_64.log", log)
        builder.close(task_id, SUCCESS)

    return act


def test_follow_logs_on_a_terminal_shows_escape_sequences_escaped(koji_cli, sandbox_hub):
    master, slave = pty.openpty()
    process = subprocess.Popen(
        koji_cli.command(
            ["container-build", "demo", SOURCE, "--git-branch=main", "--follow-logs"]
        ),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=koji_cli.env,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read_terminal():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    builder = StandInBuilder(sandbox_hub)
    _hostile_log_then_success(HOSTILE_LOG)(builder, builder.wait_for_task()["id"])
    try:
        assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        process.kill()
        reader.join(30)
        os.close(master)
        process.stderr.close()
    screen = b"".join(chunks)
    assert b"^[]0;pwned^G^[[2J^[[Hdone <FF>" in screen
    assert b"\x1b" not in screen and b"\x07" not in screen


def test_follow_logs_into_a_pipe_keeps_the_log_bytes(koji_cli, sandbox_hub):
    # (text mode here: the log without its non-UTF-8 byte)
    act = _hostile_log_then_success(HOSTILE_LOG.replace(b" \xff", b""))
    result = _run_with_builder(koji_cli, sandbox_hub, act, "--follow-logs")
    assert result.returncode == 0, result.stderr
    assert "\x1b]0;pwned\x07\x1b[2J\x1b[Hdone\n" in result.stdout
