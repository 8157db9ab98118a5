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

The parts live beside this script: bench_logs_burst.py (the burst figures),
bench_logs_local.py (the local backend's memory), bench_logs_harness.py (the
streaming they all drive and the figure report).
"""

from __future__ import annotations

import argparse
import os
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
from bench_logs_burst import bench_burst, bench_http_burst  # noqa: E402
from bench_logs_harness import FLUSH_INTERVAL, Figures, Timed, run_build  # noqa: E402
from bench_logs_local import bench_local_memory  # noqa: E402
from bench_session import make_counting_session, make_session  # noqa: E402
from fake_pipelinerun import BuildScript, Delay, Pause  # noqa: E402

from koji_containerbuild.backends.osbs.backend import OsbsBackend  # noqa: E402
from koji_containerbuild.config import OsbsSettings  # noqa: E402


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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
