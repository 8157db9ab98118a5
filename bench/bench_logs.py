"""Benchmark of the builder's log streaming (issue 3, "Speed").

Drives the OSBS backend's log feed (over the osbs-client stand-in of
koji_containerbuild.sandbox.osbs) through ``stream_build_logs`` into ``TaskLogs``, uploading to
the sandbox hub through its in-process session (the hub stand-in of record;
a minimal recording session is used only if the sandbox cannot be imported,
and the output says which). Every figure is printed next to its limit, both
measured in the same run; the exit status is 1 if any figure misses.

    python3 bench/bench_logs.py            # full run (60 s quiet build)
    python3 bench/bench_logs.py --quick    # smaller burst, 3 s quiet build
    python3 bench/bench_logs.py --quiet-seconds 10 --burst-mb 50
    python3 bench/bench_logs.py --only local-memory --local-line-mb 200

The local-backend memory figure runs the runner's side (buildah's output read
by run_streamed into the framed log) and the task's side (LocalBackend.logs()
into TaskLogs and the hub) each in a fresh process and reports the peak RSS
growth of each against the longest line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from koji_containerbuild.sandbox.osbs import STANDINS_DIR  # noqa: E402

sys.path.insert(0, STANDINS_DIR)

import fake_openshift  # noqa: E402
from bench_session import make_counting_session, make_http_session, make_session  # noqa: E402
from fake_pipelinerun import BuildScript, Delay, Pause  # noqa: E402

from koji_containerbuild.backends.osbs.backend import OsbsBackend  # noqa: E402
from koji_containerbuild.config import OsbsSettings  # noqa: E402
from koji_containerbuild.logs.stream import TaskLogs, stream_build_logs  # noqa: E402
from koji_containerbuild.sandbox.osbs.harness import binary_request  # noqa: E402

TASKS = (
    "binary-container-prebuild",
    "binary-container-build-x86-64",
    "binary-container-build-aarch64",
)
FLUSH_INTERVAL = 0.2  # the builder config default


class Figures:
    def __init__(self) -> None:
        self.missed: list[str] = []

    def report(self, label: str, value: float, limit: float, unit: str, higher: bool) -> None:
        ok = value >= limit if higher else value <= limit
        sign = ">=" if higher else "<="
        status = "ok" if ok else "MISSED"
        print(f"  {label:<44} {value:>12.3f} {unit:<8} limit {sign} {limit:g} {unit}  {status}")
        if not ok:
            self.missed.append(label)


def burst_lines(total_bytes: int) -> dict[str, list]:
    """Build-log-like lines (timestamps, varied lengths) spread over the tasks."""
    tasks: dict[str, list] = {name: [] for name in TASKS}
    size = 0
    n = 0
    while size < total_bytes:
        line = (
            f"2024-05-01 12:{n // 6000 % 60:02d}:{n // 100 % 60:02d},{n % 1000:03d} - "
            f"atomic_reactor.tasks.binary_container_build - INFO - step {n}: "
            + "compiling module "
            * (n % 9)
        )
        tasks[TASKS[n % len(TASKS)]].append(line)
        size += len(line) + 1
        n += 1
    return tasks


class Timed:
    """Wraps the backend's log feed (the path the builder uses) to note when each
    line left the backend; ``seen(line)`` may react to particular lines."""

    def __init__(self, backend):
        self.backend = backend
        self.times: list[float] = []

    def seen(self, line) -> None:
        pass

    def _stamp(self, item):
        self.times.append(time.monotonic())
        self.seen(item[1])
        return item

    def log_feed(self, handle):
        return _TimedFeed(self.backend.log_feed(handle), self._stamp)


class _TimedFeed:
    def __init__(self, inner, stamp):
        self.inner = inner
        self.stamp = stamp
        self.delivered = inner.delivered
        self.platform_of = inner.platform_of

    def streams(self):
        inner = self.inner.streams()
        error = None
        try:
            while True:
                try:
                    source = inner.send(error)
                except StopIteration:
                    return
                error = yield map(self.stamp, source)
        finally:
            inner.close()


def run_build(cluster, backend, hub, script, task_id, local_dir, timed=None):
    """One task's log streaming, as the builder does it; local files go to local_dir."""
    cluster.script(script)
    handle = backend.start(binary_request(task_id=task_id, component="bench"))
    upload_path = hub.open_task()
    local_dir = os.path.join(local_dir, str(task_id))
    logs = TaskLogs(
        hub.session, upload_path, local_dir, hub.work_dir, flush_interval=FLUSH_INTERVAL
    )
    source = timed or backend
    start = time.perf_counter()
    stream_build_logs(source, handle, logs)
    streamed = time.monotonic()
    logs.close()
    closed = time.monotonic()
    elapsed = time.perf_counter() - start
    size = os.path.getsize(os.path.join(local_dir, "osbs-build.log"))
    return logs, elapsed, size, upload_path, streamed, closed


def baseline(cluster, backend, script, task_id, out_dir) -> tuple[float, int]:
    """The same generator's lines written straight to one local file (line + newline)."""
    cluster.script(script)
    osbs = backend._client("binary")[0]
    handle = backend.start(binary_request(task_id=task_id, component="bench"))
    path = os.path.join(out_dir, f"baseline-{task_id}.log")
    start = time.perf_counter()
    with open(path, "wb") as out:
        for _task, line in osbs.get_build_logs(handle, follow=True, wait=True):
            out.write(line.encode("utf-8"))
            out.write(b"\n")
    elapsed = time.perf_counter() - start
    size = os.path.getsize(path)
    os.unlink(path)
    return elapsed, size


def burst_runs(cluster, backend, hub, tasks, first_id, out_dir, runs=3):
    """Baseline and ours, alternating, for `runs` task runs; returns the totals."""
    totals = {"base": 0.0, "ours": 0.0, "log": 0, "local": 0, "sent": 0, "calls": 0}
    close_delays = []
    problems = []
    for run in range(runs):
        script = BuildScript(tasks=tasks)
        base, base_size = baseline(cluster, backend, script, first_id + 2 * run, out_dir)
        totals["base"] += base
        logs, elapsed, size, _, streamed, closed = run_build(
            cluster, backend, hub, BuildScript(tasks=tasks), first_id + 2 * run + 1, out_dir
        )
        if size != base_size:
            problems.append(f"run {run}: osbs-build.log has {size} bytes, baseline {base_size}")
        totals["ours"] += elapsed
        totals["log"] += size
        close_delays.append(closed - streamed)
        local = sum(os.path.getsize(path) for path in logs.files())
        totals["local"] += local
        totals["sent"] += hub.uploaded_bytes()
        totals["calls"] += hub.upload_calls()
        if hub.uploaded_bytes() != local:
            problems.append(f"run {run}: uploaded {hub.uploaded_bytes()} bytes of {local}")
        hub.reset_counters()
        shutil.rmtree(logs.local_dir)
    totals["close"] = max(close_delays)
    return totals, problems


def bench_burst(args, cluster, backend, hub, counting, figures: Figures) -> None:
    runs = 3
    per_run = args.burst_mb * 1024 * 1024 // runs
    tasks = burst_lines(per_run)
    print(f"\n{args.burst_mb} MB burst over {runs} task runs ({per_run / 2**20:.1f} MB each)")
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as out_dir:
        ours, problems = burst_runs(cluster, backend, counting, tasks, 100, out_dir)
        figures.missed.extend(problems)
        with_hub, problems = burst_runs(cluster, backend, hub, tasks, 200, out_dir)
        figures.missed.extend(problems)

    def rate(totals, key):
        return totals["log"] / totals[key] / 2**20

    print(f"  {counting.description}:")
    print(
        f"    baseline (same generator, same lines and bytes -> one file) "
        f"{rate(ours, 'base'):7.1f} MB/s, ours {rate(ours, 'ours'):.1f} MB/s"
    )
    figures.report(
        "throughput vs file-write baseline",
        100 * ours["base"] / ours["ours"],
        70,
        "%",
        higher=True,
    )
    print(f"  for information, {hub.description}:")
    print(
        f"    baseline {rate(with_hub, 'base'):7.1f} MB/s, ours {rate(with_hub, 'ours'):.1f} MB/s "
        f"= {100 * with_hub['base'] / with_hub['ours']:.1f}% (no limit: the in-process hub's "
        "own disk writes and checksums run on the builder's CPU here)"
    )
    print(
        f"    osbs-build.log {with_hub['log']} bytes; all log files {with_hub['local']} bytes; "
        f"uploaded {with_hub['sent']} bytes in {with_hub['calls']} calls"
    )
    figures.report(
        "|bytes uploaded - bytes of the log files|",
        abs(with_hub["sent"] - with_hub["local"]),
        0,
        "bytes",
        higher=False,
    )
    figures.report(
        "average bytes per upload call",
        with_hub["sent"] / max(1, with_hub["calls"]) / 1024,
        256,
        "KiB",
        higher=True,
    )
    figures.report(
        "last line -> close() returned (burst, max)",
        max(ours["close"], with_hub["close"]) * 1000,
        50,
        "ms",
        higher=False,
    )


def paced_lines(rate: int, seconds: float) -> list:
    """Lines at `rate` per second, in 10 ms steps."""
    per_step = max(1, rate // 100)
    items: list = []
    for step in range(int(seconds * 100)):
        items.append(Delay(0.01))
        items.extend(f"paced line {step}.{k} " + "x" * 80 for k in range(per_step))
    return items


def line_ends(path: str) -> list[int]:
    """Offset just past each line of a file."""
    ends = []
    end = 0
    with open(path, "rb") as handle:
        for line in handle:
            end += len(line)
            ends.append(end)
    return ends


def bench_paced(args, cluster, backend, hub, figures: Figures) -> None:
    rate = 2000
    print(f"\n{rate} lines/s for {args.paced_seconds:g} s")
    timed = Timed(backend)
    script = BuildScript(
        tasks={"binary-container-build-x86-64": paced_lines(rate, args.paced_seconds)}
    )
    hub.track_times = True
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as local_dir:
        logs, _, size, _, _, closed = run_build(
            cluster, backend, hub, script, 2000, local_dir, timed
        )
        offsets = line_ends(os.path.join(logs.local_dir, "osbs-build.log"))
    hub.track_times = False
    arrivals = hub.arrivals("osbs-build.log")  # (time, end offset)
    delays = []
    index = 0
    for produced, line_end in zip(timed.times, offsets):
        while index < len(arrivals) and arrivals[index][1] < line_end:
            index += 1
        if index == len(arrivals):
            figures.missed.append("a paced line never reached the hub")
            break
        delays.append(arrivals[index][0] - produced)
    delays.sort()
    p95 = delays[int(len(delays) * 0.95) - 1] if delays else float("inf")
    print(f"  {len(delays)} lines, {size} bytes, {len(arrivals)} upload calls")
    figures.report("line-to-hub delay p95", p95, 0.3, "s", higher=False)
    figures.report(
        "last line -> close() returned", (closed - timed.times[-1]) * 1000, 50, "ms", higher=False
    )
    hub.reset_counters()


def bench_quiet(args, cluster, backend, hub, figures: Figures) -> None:
    print(f"\nquiet build: one line, {args.quiet_seconds:g} s of silence, one line")
    release = Pause()
    script = BuildScript(
        tasks={"binary-container-build-x86-64": ["first line", release, "last line"]}
    )
    marks: dict[str, float] = {}

    class Marking(Timed):
        def seen(self, line):
            if line == "first line":
                threading.Timer(FLUSH_INTERVAL * 2, mark_start).start()
            elif line == "last line":
                marks["cpu1"] = time.process_time()
                marks["calls1"] = hub.all_calls

    def mark_start():
        # after the first line's upload: the quiet part starts here
        marks["cpu0"] = time.process_time()
        marks["calls0"] = hub.all_calls
        threading.Timer(args.quiet_seconds, release.event.set).start()

    with tempfile.TemporaryDirectory(prefix="bench-logs-") as local_dir:
        run_build(cluster, backend, hub, script, 3000, local_dir, Marking(backend))
    figures.report(
        f"CPU seconds during {args.quiet_seconds:g} s quiet",
        marks["cpu1"] - marks["cpu0"],
        0.05,
        "s",
        higher=False,
    )
    figures.report(
        "hub calls per minute while quiet",
        (marks["calls1"] - marks["calls0"]) * 60 / args.quiet_seconds,
        6,
        "calls",
        higher=False,
    )
    hub.reset_counters()


def bench_http_burst(args, cluster, backend, figures: Figures) -> None:
    """The burst through a hub in another process over HTTP, as kojid uploads."""
    runs = 3
    per_run = args.burst_mb * 1024 * 1024 // runs
    tasks = burst_lines(per_run)
    print(f"\n{args.burst_mb} MB burst through an HTTP hub ({runs} task runs)")
    with tempfile.TemporaryDirectory(prefix="bench-http-hub-") as topdir:
        http = make_http_session(topdir)
        try:
            print(f"  {http.description}")
            with tempfile.TemporaryDirectory(prefix="bench-logs-") as out_dir:
                totals, problems = burst_runs(cluster, backend, http, tasks, 500, out_dir)
        finally:
            http.close()
    figures.missed.extend(problems)
    print(
        f"    baseline {totals['log'] / totals['base'] / 2**20:7.1f} MB/s, "
        f"ours {totals['log'] / totals['ours'] / 2**20:.1f} MB/s; uploaded {totals['sent']} "
        f"bytes of {totals['local']} in {totals['calls']} calls"
    )
    figures.report(
        "HTTP hub: throughput vs file-write baseline",
        100 * totals["base"] / totals["ours"],
        50,
        "%",
        higher=True,
    )
    figures.report(
        "HTTP hub: |bytes uploaded - bytes of the log files|",
        abs(totals["sent"] - totals["local"]),
        0,
        "bytes",
        higher=False,
    )
    figures.report(
        "HTTP hub: average bytes per upload call",
        totals["sent"] / max(1, totals["calls"]) / 1024,
        256,
        "KiB",
        higher=True,
    )


def bench_memory(args, cluster, backend, hub, figures: Figures) -> None:
    longest = args.long_line_mb * 1024 * 1024
    print(f"\nmemory: a {args.long_line_mb} MB line among ordinary lines")
    big = "L" * longest
    tasks = {"binary-container-build-x86-64": ["before"] * 1000 + [big] + ["after"] * 1000}
    script = BuildScript(tasks=tasks)
    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as local_dir:
        run_build(cluster, backend, hub, script, 4000, local_dir)
        _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    growth = peak - before
    print(f"  peak growth {growth / 2**20:.1f} MiB for a {longest / 2**20:.0f} MiB line")
    figures.report("peak memory growth / longest line", growth / longest, 2.0, "x", higher=False)
    hub.reset_counters()


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
                [sys.executable, __file__, "--local-phase", phase, *phase_args],
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


def _run_local_phase(argv: list[str]) -> int:
    phase, *rest = argv
    if phase == "runner":
        growth = _local_runner_phase(rest[0], int(rest[1]))
    else:
        growth = _local_task_phase(*rest)
    print(json.dumps({"growth": growth}))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--local-phase"]:
        return _run_local_phase(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small burst, 3 s quiet build")
    parser.add_argument("--quiet-seconds", type=float, default=None)
    parser.add_argument("--burst-mb", type=int, default=None)
    parser.add_argument("--paced-seconds", type=float, default=None)
    parser.add_argument("--long-line-mb", type=int, default=10)
    parser.add_argument("--local-line-mb", type=int, default=200)
    parser.add_argument(
        "--only",
        choices=("burst", "paced", "quiet", "memory", "local-memory"),
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument("--tmpdir", default=None, help="where the local-memory run writes")
    args = parser.parse_args(argv)
    if args.quiet_seconds is None:
        args.quiet_seconds = 3.0 if args.quick else 60.0
    if args.burst_mb is None:
        args.burst_mb = 15 if args.quick else 100
    if args.paced_seconds is None:
        args.paced_seconds = 2.0 if args.quick else 5.0

    parts = set(args.only or ("burst", "paced", "quiet", "memory", "local-memory"))
    cluster = fake_openshift.FakeOpenShift()
    fake_openshift.install(cluster)
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as topdir:
        hub = make_session(topdir)
        counting = make_counting_session(topdir)
        print(f"hub session: {hub.description}")
        backend = OsbsBackend(OsbsSettings(conf_file=os.devnull, retry_seconds=5))
        if "burst" in parts:
            bench_burst(args, cluster, backend, hub, counting, figures)
            bench_http_burst(args, cluster, backend, figures)
        if "paced" in parts:
            bench_paced(args, cluster, backend, hub, figures)
        if "quiet" in parts:
            bench_quiet(args, cluster, backend, hub, figures)
        if "memory" in parts:
            bench_memory(args, cluster, backend, hub, figures)
    if "local-memory" in parts:
        bench_local_memory(args, figures)
    if figures.missed:
        print("\nMISSED: " + "; ".join(figures.missed))
        return 1
    print("\nall figures within their limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
