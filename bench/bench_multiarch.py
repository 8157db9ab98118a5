"""Benchmark of a two-arch build on two sandbox hosts against the same work done by hand.

Builds examples/demo-image for this machine's arch and for the second arch
(through qemu) on the two-host sandbox: the real koji CLI, the parent task,
one arch subtask per host, the manifest list and the one CG import. The
same work run directly: the two single-arch ``buildah bud`` builds in
parallel, each pushed by digest and exported as the gzipped archive the
import needs, then the manifest list pushed. Both in the same run; the ratio
of the task's wall time to the direct one is printed next to its limit
(issue 13: at most 1.5x) and the exit status is 1 if it misses.

    python3 bench/bench_multiarch.py              # 3 rounds after a warm-up
    python3 bench/bench_multiarch.py --rounds 5
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_build import Bench, dockerfile, figure  # noqa: E402

from koji_containerbuild.backends.local.buildah import emulation_problem, oci_arch  # noqa: E402
from koji_containerbuild.sandbox.env import runtime  # noqa: E402
from koji_containerbuild.sandbox.env.hosts import parse_hosts  # noqa: E402
from koji_containerbuild.sandbox.env.layout import buildah_base_args  # noqa: E402

NATIVE = runtime.host_arch()
OTHER = "aarch64" if NATIVE != "aarch64" else "x86_64"
#: Goal of issue 13: a two-arch build on two hosts, against the two builds by hand.
RATIO_LIMIT = 1.5


class MultiArchBench(Bench):
    def __init__(self, state_dir: str) -> None:
        super().__init__(state_dir)
        hosts = parse_hosts(f"{NATIVE},{OTHER}", NATIVE)
        self.box = runtime.Sandbox(state_dir, hosts=hosts)

    def direct_two_arch(self, component: str, release: str) -> float:
        """Both arches built in parallel, pushed by digest, exported; then the list."""
        source = os.path.join(self.tmp, f"direct-{component}-{release}")
        os.makedirs(source)
        with open(os.path.join(source, "Dockerfile"), "w", encoding="utf-8") as handle:
            handle.write(dockerfile(component, release))
        repository = f"{self.box.registry_address}/bench/{component}"
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            digests = list(pool.map(lambda a: self.direct_arch(source, repository, a),
                                    (NATIVE, OTHER)))  # fmt: skip
        buildah = buildah_base_args(self.box.paths)
        listed = f"localhost/bench-direct/{component}:list-{release}"
        self._run([*buildah, "manifest", "create", listed])
        for digest in digests:
            self._run([*buildah, "manifest", "add", "--tls-verify=false", listed,
                       f"docker://{repository}@{digest}"])  # fmt: skip
        dest = f"docker://{repository}:direct-{release}"
        self._run([*buildah, "manifest", "push", "--all", "--format", "v2s2",
                   "--tls-verify=false", listed, dest])  # fmt: skip
        elapsed = time.monotonic() - start
        self._run([*buildah, "manifest", "rm", listed])
        return elapsed

    def direct_arch(self, source: str, repository: str, arch: str) -> str:
        buildah = buildah_base_args(self.box.paths)
        ref = f"localhost/bench-direct/{os.path.basename(source)}:{arch}"
        layout = os.path.join(source, f"{arch}.dir")
        plain = os.path.join(source, f"{arch}.tar")
        self._run([*buildah, "bud", "--format", "docker", "--isolation", "chroot",
                   "--pull=missing", "--tls-verify=false", "--platform", f"linux/{oci_arch(arch)}",
                   "-f", os.path.join(source, "Dockerfile"), "-t", ref, source])  # fmt: skip
        self._run([*buildah, "push", "--quiet", "--format", "v2s2", ref, f"dir:{layout}"])
        digest = subprocess.run(
            ["sha256sum", os.path.join(layout, "manifest.json")],
            capture_output=True, text=True, check=True,
        ).stdout.split()[0]  # fmt: skip
        self._run(["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                   f"dir:{layout}", f"docker://{repository}@sha256:{digest}"])  # fmt: skip
        self._run([*buildah, "push", "--quiet", ref, f"docker-archive:{plain}:x:{arch}"])
        with open(plain, "rb") as src, gzip.open(plain + ".gz", "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        self._run([*buildah, "rmi", ref])
        return f"sha256:{digest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured builds of each kind")
    args = parser.parse_args(argv)
    problem = emulation_problem(OTHER)
    if problem:
        print(f"bench_multiarch needs a second arch: {problem}")
        return 1

    state_dir = tempfile.mkdtemp(prefix="kcb-bench-multiarch-", dir=os.environ.get("TMPDIR"))
    bench = MultiArchBench(state_dir)
    bench.start()
    try:
        # warm up: both base images, the registry repository, each worker's first task
        bench.koji_build("bench-warm", "1")
        bench.direct_two_arch("bench-warm", "1")
        koji_times, direct_times = [], []
        for i in range(1, args.rounds + 1):
            koji_times.append(bench.koji_build("bench-two", str(i)))
            direct_times.append(bench.direct_two_arch("bench-two", str(i)))
    finally:
        bench.stop()
        shutil.rmtree(state_dir, ignore_errors=True)

    koji_median, direct_median = statistics.median(koji_times), statistics.median(direct_times)
    ratio = koji_median / direct_median
    print(f"{args.rounds} two-arch builds ({NATIVE} + {OTHER}) of examples/demo-image on 2 hosts")
    print(f"  task wall time        median {koji_median:.2f} s, max {max(koji_times):.2f} s")
    print(f"  by hand, in parallel  median {direct_median:.2f} s, max {max(direct_times):.2f} s")
    ok = figure("two-arch task / the two builds by hand in parallel", ratio, RATIO_LIMIT, "x",
                ratio <= RATIO_LIMIT)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
