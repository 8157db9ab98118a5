"""The burst figures of bench/bench_logs.py: a large log at once, against writing it to a file.

Run by ``bench/bench_logs.py`` (``--only burst``), not on its own. Apart from
it because the burst compares the builder's streaming with a baseline that
writes the same generator's lines straight to one file, through the counting
hub, the sandbox hub in-process and a sandbox hub over HTTP.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from bench_logs_harness import Figures, run_build
from bench_session import make_http_session
from fake_pipelinerun import BuildScript

from koji_containerbuild.sandbox.osbs.harness import binary_request

TASKS = (
    "binary-container-prebuild",
    "binary-container-build-x86-64",
    "binary-container-build-aarch64",
)


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
