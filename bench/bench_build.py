"""Benchmark of one container build's overhead over the buildah commands it runs.

Builds examples/demo-image through the sandbox (the real koji CLI, the real
hub and builder plugins, the local backend) and runs the same work directly
with buildah in the same storage and against the same registry: ``bud``,
``push`` and the gzipped docker-archive export the Content Generator import
needs. Both are measured in the same run, so the ratio is a property of the
code, not of the machine's mood. Figures are printed next to their limits;
the exit status is 1 if one misses.

The concurrent comparison runs in rounds (3 by default; Koji, then direct,
in each) and its figure is the median round's ratio, every round printed.
One round alone swings by a second either way: with the vfs storage driver
buildah ends each commit's layer diff by sleeping until the next whole
second (containers/storage's NaiveDiffDriver, so that files changed within
one second compare right), which lines the concurrent builds up on second
boundaries on both sides. For the same reason each measured build, and
each round's two halves, start after a random part of a second: builds
run back to back would otherwise start at the same phase of the second
each time, and one side could sleep almost a full second in every build
and the other almost none.

    python3 bench/bench_build.py               # 7 sequential builds, 3 rounds of 16 concurrent
    python3 bench/bench_build.py --builds 3 --concurrent 8 --rounds 1
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import koji  # noqa: E402

from koji_containerbuild.backends.local.build import ARCHIVE_GZIP_LEVEL  # noqa: E402
from koji_containerbuild.backends.local.buildah import oci_arch  # noqa: E402
from koji_containerbuild.hostarch import host_arch  # noqa: E402
from koji_containerbuild.sandbox.env import runtime  # noqa: E402
from koji_containerbuild.sandbox.env.layout import buildah_base_args  # noqa: E402

DEMO_DOCKERFILE = os.path.join(runtime.EXAMPLES_DIR, "demo-image", "Dockerfile")
#: Goals of issue 10.
SEQUENTIAL_OVERHEAD_LIMIT = 1.5  # seconds over the direct commands (median)
CONCURRENT_RATIO_LIMIT = 1.5  # total wall time over the direct builds'
#: Seconds between two looks at the tasks (the figures come from the hub's timestamps).
POLL_INTERVAL = 0.25


def dockerfile(component: str, release: str) -> str:
    """The demo Dockerfile with this build's component, name and release."""
    with open(DEMO_DOCKERFILE, encoding="utf-8") as handle:
        text = handle.read()
    text = text.replace('com.redhat.component="demo-image"', f'com.redhat.component="{component}"')
    text = text.replace('name="demo/demo-image"', f'name="bench/{component}"')
    return text.replace('release="1"', f'release="{release}"')


class Bench:
    def __init__(self, state_dir: str) -> None:
        self.box = runtime.Sandbox(state_dir)
        self.tmp = os.path.join(state_dir, "bench")
        os.makedirs(self.tmp)
        self.session: koji.ClientSession | None = None

    def start(self) -> None:
        self.box.start()
        self.session = self.box.session(runtime.USER)

    def stop(self) -> None:
        self.box.stop()

    # -- through Koji ------------------------------------------------------
    def publish(self, component: str, release: str) -> str:
        self.box.hub.add_package(runtime.DEST_TAG, component, runtime.USER)
        source = os.path.join(self.tmp, f"src-{component}-{release}")
        os.makedirs(source)
        with open(os.path.join(source, "Dockerfile"), "w", encoding="utf-8") as handle:
            handle.write(dockerfile(component, release))
        return self.box.publish(component, source, f"{component} {release}")

    def submit(self, scm_url: str, scratch: bool) -> int:
        """Submit without waiting; return the task id."""
        args = ["container-build", runtime.TARGET, scm_url, "--git-branch", "main", "--nowait"]
        if scratch:
            args.append("--scratch")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
        out = subprocess.run(
            [*self.box.koji(), *args], capture_output=True, text=True, env=env, check=False
        )
        for line in out.stdout.splitlines():
            if line.startswith("Created task:"):
                return int(line.split(":", 1)[1])
        raise RuntimeError(f"koji container-build failed: {out.stdout}{out.stderr}")

    def submit_rpc(self, scm_url: str, scratch: bool) -> int:
        """Submit with the buildContainer call itself; return the task id."""
        assert self.session is not None
        opts = {"git_branch": "main", "scratch": scratch}
        return int(self.session.buildContainer(scm_url, runtime.TARGET, opts))

    def wait_closed(self, task_ids: list[int]) -> list[dict]:
        """Wait until every task ended; each must have succeeded.

        The times come from the hub (create_ts, completion_ts), so the polls
        here only need to notice the end: a few a second, not a stream of
        calls that would compete with the builds' own for the hub.
        """
        assert self.session is not None
        done: dict[int, dict] = {}
        while len(done) < len(task_ids):
            for task_id in task_ids:
                if task_id in done:
                    continue
                info = self.session.getTaskInfo(task_id)
                if info["state"] in (koji.TASK_STATES["CLOSED"], koji.TASK_STATES["FAILED"],
                                     koji.TASK_STATES["CANCELED"]):  # fmt: skip
                    if info["state"] != koji.TASK_STATES["CLOSED"]:
                        raise RuntimeError(f"task {task_id} did not succeed: {info}")
                    done[task_id] = info
            if len(done) < len(task_ids):
                time.sleep(POLL_INTERVAL)
        return [done[t] for t in task_ids]

    def koji_build(self, component: str, release: str, scratch: bool = False) -> float:
        """One build through Koji; the task's wall time (created to closed)."""
        task_id = self.submit(self.publish(component, release), scratch)
        info = self.wait_closed([task_id])[0]
        return info["completion_ts"] - info["create_ts"]

    # -- directly ----------------------------------------------------------
    def direct_build(self, component: str, release: str) -> float:
        """bud + push + archive export with the local backend's settings."""
        source = os.path.join(self.tmp, f"direct-{component}-{release}")
        os.makedirs(source)
        with open(os.path.join(source, "Dockerfile"), "w", encoding="utf-8") as handle:
            handle.write(dockerfile(component, release))
        buildah = buildah_base_args(self.box.paths)
        ref = f"localhost/bench-direct/{component}:{release}"
        iid = os.path.join(source, "iid")
        plain = os.path.join(source, "image.tar")
        dest = f"docker://{self.box.registry_address}/bench/{component}:direct-{release}"
        start = time.monotonic()
        self._run([*buildah, "bud", "--format", "docker", "--isolation", "chroot",
                   "--pull=missing", "--tls-verify=false", "--iidfile", iid,
                   "--platform", f"linux/{oci_arch(host_arch())}",
                   "-f", os.path.join(source, "Dockerfile"), "-t", ref, source])  # fmt: skip
        self._run([*buildah, "push", "--format", "v2s2", "--tls-verify=false",
                   "--digestfile", os.path.join(source, "digest"), ref, dest])  # fmt: skip
        self._run([*buildah, "push", "--quiet", ref, f"docker-archive:{plain}:{component}:x"])
        # at the level the local backend compresses the archive with
        level = ARCHIVE_GZIP_LEVEL
        with open(plain, "rb") as src, gzip.open(plain + ".gz", "wb", compresslevel=level) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        elapsed = time.monotonic() - start
        self._run([*buildah, "rmi", ref])
        return elapsed

    def concurrent_round(self, number: int, count: int, jobs: int) -> tuple[float, float]:
        """``count`` builds through Koji at once, then directly ``jobs`` at a time: both walls."""
        urls = [(self.publish(f"bench-par{number}-{i}", "1"), i % 2 == 0) for i in range(count)]
        off_the_second()
        submitted = time.time()  # the hub's clock: it runs in this process
        # submitted through the API in one go, as a client like fedpkg calls it:
        # 16 koji CLI processes would spend this machine's CPU, not the builder's
        tasks = [self.submit_rpc(url, scratch) for url, scratch in urls]
        infos = self.wait_closed(tasks)
        koji_wall = max(info["completion_ts"] for info in infos) - submitted
        off_the_second()
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda i: self.direct_build(f"bench-par{number}-{i}", "d"),
                          range(count)))  # fmt: skip
        return koji_wall, time.monotonic() - start

    @staticmethod
    def _run(cmd: list[str]) -> None:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr}")


def off_the_second() -> None:
    """Wait a random part of a second: the next build starts at a random phase of it."""
    time.sleep(random.random())


def figure(name: str, value: float, limit: float, unit: str, ok: bool) -> bool:
    print(
        f"{name:<58} {value:8.2f} {unit:<3} limit {limit:.2f} {unit:<3} {'ok' if ok else 'MISS'}"
    )
    return ok


def at_least_one(text: str) -> int:
    """An argparse type: a count of builds, which the figures need one of at least."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} builds give no figure; give 1 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=at_least_one, default=7, help="sequential builds")
    parser.add_argument("--concurrent", type=at_least_one, default=16, help="submitted at once")
    parser.add_argument(
        "--rounds", type=at_least_one, default=3, help="rounds of the concurrent comparison"
    )
    args = parser.parse_args(argv)

    state_dir = tempfile.mkdtemp(prefix="kcb-bench-build-", dir=os.environ.get("TMPDIR"))
    bench = Bench(state_dir)
    bench.start()
    try:
        # warm up: base image, registry repository, the worker's first task
        bench.koji_build("bench-warm", "1")
        bench.direct_build("bench-warm", "1")
        koji_times, direct_times = [], []
        for i in range(1, args.builds + 1):
            off_the_second()
            koji_times.append(bench.koji_build("bench-seq", str(i)))
            off_the_second()
            direct_times.append(bench.direct_build("bench-seq", str(i)))

        with open(bench.box.paths.kojid_options, encoding="utf-8") as handle:
            jobs = int(json.load(handle)["maxjobs"])
        rounds = [bench.concurrent_round(n, args.concurrent, jobs) for n in range(args.rounds)]
    finally:
        bench.stop()
        shutil.rmtree(state_dir, ignore_errors=True)

    koji_median, direct_median = statistics.median(koji_times), statistics.median(direct_times)
    print(f"{args.builds} sequential builds of examples/demo-image (after one warm-up build)")
    print(f"  task wall time   median {koji_median:.2f} s, max {max(koji_times):.2f} s")
    print(f"  direct commands  median {direct_median:.2f} s, max {max(direct_times):.2f} s")
    print(f"  ratio            {koji_median / direct_median:.2f}")
    print(f"{args.concurrent} builds submitted at once with buildContainer (half scratch); "
          f"direct builds {jobs} at a time (the worker's maxjobs)")  # fmt: skip
    for number, (koji_wall, direct_wall) in enumerate(rounds, 1):
        print(f"  round {number}: through Koji {koji_wall:.2f} s, direct {direct_wall:.2f} s, "
              f"ratio {koji_wall / direct_wall:.2f}")  # fmt: skip
    ok = figure(
        "median task time - median direct time",
        koji_median - direct_median,
        SEQUENTIAL_OVERHEAD_LIMIT,
        "s",
        koji_median - direct_median <= SEQUENTIAL_OVERHEAD_LIMIT,
    )
    ratio = statistics.median(koji_wall / direct_wall for koji_wall, direct_wall in rounds)
    ok &= figure(
        f"{args.concurrent} concurrent builds: wall time ratio (median round)",
        ratio,
        CONCURRENT_RATIO_LIMIT,
        "x",
        ratio <= CONCURRENT_RATIO_LIMIT,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
