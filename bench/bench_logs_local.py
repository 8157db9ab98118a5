"""The local backend's memory figure of bench/bench_logs.py: one huge build-log line.

Run by ``bench/bench_logs.py`` (``--only local-memory``). Apart from the OSBS
parts because it measures another backend in other processes: the runner's side
(buildah's output read by run_streamed into the framed log) and the task's side
(LocalBackend.logs() into TaskLogs and the hub) each run in a fresh process
(this file, run with the phase's name) and report their peak RSS growth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench_logs_harness import FLUSH_INTERVAL, Figures  # noqa: E402
from bench_session import make_session  # noqa: E402

from koji_containerbuild.logs.stream import TaskLogs, stream_build_logs  # noqa: E402


def _reset_peak_rss() -> None:
    # "5" resets VmHWM, the peak resident set size (Linux 4.0 and later)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def _rss(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _local_runner_phase(build_dir: str, nbytes: int) -> int:
    """The runner's side: a RUN step printing one huge line, read into the framed log."""
    from koji_containerbuild.backends.local import buildah as bh
    from koji_containerbuild.backends.local.build import LogWriter

    script = f"echo before; head -c {nbytes} /dev/zero | tr '\\0' L; echo; echo after"
    writer = LogWriter(os.path.join(build_dir, bh.LOG_FILE))
    _reset_peak_rss()
    before = _rss("VmRSS")
    bh.run_streamed(["sh", "-c", script], lambda line: writer.write("x86_64", line))
    writer.close()
    return _rss("VmHWM") - before


def _local_task_phase(state_dir: str, handle: str, topdir: str) -> int:
    """The task's side: LocalBackend.logs() of that build into TaskLogs and the hub."""
    from koji_containerbuild.backends.local import buildah as bh
    from koji_containerbuild.backends.local.backend import LocalBackend

    bh.write_json(os.path.join(state_dir, handle, bh.STATUS_FILE), {"outcome": "succeeded"})
    bh.write_json(os.path.join(state_dir, handle, bh.BUILD_FILE), {})
    hub = make_session(topdir)
    backend = LocalBackend({"state_dir": state_dir})
    local_dir = os.path.join(topdir, "local")
    upload_path = hub.open_task()
    logs = TaskLogs(
        hub.session, upload_path, local_dir, hub.work_dir, flush_interval=FLUSH_INTERVAL
    )
    _reset_peak_rss()
    before = _rss("VmRSS")
    stream_build_logs(backend, handle, logs)
    logs.close()
    growth = _rss("VmHWM") - before
    uploaded = os.path.getsize(os.path.join(hub.work_dir, upload_path, "x86_64.log"))
    if uploaded < int(os.environ["BENCH_LINE_BYTES"]):
        raise RuntimeError(f"only {uploaded} bytes of the x86_64 log reached the hub")
    return growth


def bench_local_memory(args, figures: Figures) -> None:
    longest = args.local_line_mb * 1024 * 1024
    print(f"\nlocal backend memory: a RUN step prints one {args.local_line_mb} MB line")
    env = dict(os.environ, BENCH_LINE_BYTES=str(longest))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="bench-local-", dir=args.tmpdir) as tmp:
        handle = "1-bench-local"
        build_dir = os.path.join(tmp, "state", handle)
        os.makedirs(build_dir)
        topdir = os.path.join(tmp, "hub")
        growth = {}
        for phase, phase_args in (
            ("runner", [build_dir, str(longest)]),
            ("task", [os.path.join(tmp, "state"), handle, topdir]),
        ):
            done = subprocess.run(
                [sys.executable, __file__, phase, *phase_args],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"the {phase} phase failed:\n{done.stderr}")
            growth[phase] = json.loads(done.stdout.strip().splitlines()[-1])["growth"]
    for phase, label in (("runner", "local runner"), ("task", "task process (local)")):
        print(f"  {label}: peak RSS growth {growth[phase] / 2**20:.1f} MiB")
        figures.report(
            f"{label} peak RSS growth / longest line",
            growth[phase] / longest,
            2.0,
            "x",
            higher=False,
        )


def run_local_phase(argv: list[str]) -> int:
    phase, *rest = argv
    if phase == "runner":
        growth = _local_runner_phase(rest[0], int(rest[1]))
    else:
        growth = _local_task_phase(*rest)
    print(json.dumps({"growth": growth}))
    return 0


if __name__ == "__main__":
    sys.exit(run_local_phase(sys.argv[1:]))
