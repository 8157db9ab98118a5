"""Benchmark of `koji cancel` (issue 7): how fast the backend build stops, what is left.

Starts its own sandbox (hub, worker with kojid's kill sequence, registry, git
daemon), builds with the local buildah backend through the real koji CLI,
and cancels each build in a phase it can reach deterministically:

- ``queued``: the task is still FREE (the worker is stopped meanwhile);
- ``quiet build``: a RUN step that prints nothing (sleep);
- ``printing build``: a RUN step that prints lines without end.

For each build it prints the time from the worker's SIGINT to the task
process (kojid's first stop signal; from the worker's log) to the build's RUN
process being gone (goal 1 s), and the same from the start of `koji cancel`,
the worker's poll of the hub included (goal 1 s too, as issue 7 sets it; kojid
itself allows about 5 s before its SIGKILL); for every phase the leftovers: BUILDING builds, tags
in the registry, processes of the task or the build (goal 0). Exit status 1
when a figure misses its limit.

    python3 bench/bench_cancel.py              # needs buildah, skopeo, docker-registry
    python3 bench/bench_cancel.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import koji  # noqa: E402

from koji_containerbuild.sandbox.env import runtime  # noqa: E402
from koji_containerbuild.sandbox.kojid import proctree  # noqa: E402
from koji_containerbuild.sandbox.kojid.fork import task_pid_file  # noqa: E402

#: Seconds from kojid's SIGINT to the task to the backend build stopped.
STOP_LIMIT = 1.0
#: Seconds from starting `koji cancel` to the backend build stopped (kojid allows ~5 s).
COMMAND_LIMIT = 1.0
#: Leftovers allowed after a cancel (BUILDING builds, pushed tags, processes).
LEFTOVER_LIMIT = 0
UNIQUE = f"{os.getpid() % 1000:03d}"

PHASES = {
    "queued": "true",
    "quiet build": "sleep 600.{marker}",
    "printing build": 'while :; do echo "bench {marker} printing"; sleep 0.01; done',
}


class Figures:
    def __init__(self) -> None:
        self.missed: list[str] = []

    def report(self, label: str, value: float, limit: float, unit: str) -> None:
        ok = value <= limit
        print(f"  {label:<48} {value:>8.2f} {unit:<6} limit <= {limit:g} {unit}  "
              f"{'ok' if ok else 'MISSED'}")  # fmt: skip
        if not ok:
            self.missed.append(label)


def wait_for(condition, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def koji_cli(box: runtime.Sandbox, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.run([*box.koji(), *args], capture_output=True, text=True, timeout=240,
                          check=False, env=env)  # fmt: skip


def registry_tags(box: runtime.Sandbox, repository: str) -> list[str]:
    done = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false",
         f"docker://{box.registry_address}/{repository}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return json.loads(done.stdout)["Tags"] if done.returncode == 0 else []


def task_process(box: runtime.Sandbox, task_id: int) -> tuple[int, int] | None:
    """(pid, start time) of the worker's child for the task (its pid file), None if none."""
    try:
        with open(task_pid_file(os.path.join(box.paths.logs, "tasks"), task_id)) as handle:
            noted = json.load(handle)
    except FileNotFoundError:
        return None
    return noted["pid"], noted["start"]


def sigint_time(box: runtime.Sandbox, pids: list[int]) -> float:
    """When the worker sent SIGINT to one of ``pids`` (from its log; inf if it did not)."""
    wanted = [f"Sent signal {int(signal.SIGINT)} to pid {pid}" for pid in pids]
    with open(os.path.join(box.paths.logs, "worker.log"), encoding="utf-8") as handle:
        for line in handle:
            if any(line.rstrip().endswith(text) for text in wanted):
                stamp, _, millis = line[:23].partition(",")
                return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
    return float("inf")


def run_phase(box, session, workdir: str, phase: str, round_no: int, figures: Figures) -> None:
    slug = f"{list(PHASES).index(phase)}-{round_no}"
    component = f"bench-cancel-{slug}"
    # digits only: it is also the fraction of sleep's argument
    marker = f"{UNIQUE}{list(PHASES).index(phase)}{round_no:03d}"
    box.hub.add_package(runtime.DEST_TAG, component, runtime.USER)
    source = os.path.join(workdir, component)
    os.makedirs(source, exist_ok=True)
    with open(os.path.join(source, "Dockerfile"), "w", encoding="utf-8") as handle:
        handle.write(
            f"FROM {runtime.BASE_IMAGE}\n"
            f'LABEL com.redhat.component="{component}" name="bench/{component}" '
            f'version="1.0" release="1"\n'
            f"RUN {PHASES[phase].format(marker=marker)}\n"
        )
    url = box.publish(component, source, "bench")
    if phase == "queued":
        box.stop_worker()
    done = koji_cli(box, "container-build", runtime.TARGET, url, "--git-branch", "main",
                    "--nowait")  # fmt: skip
    task_id = int(done.stdout.split("Created task:")[1].split()[0])
    print(f"{phase} (task {task_id}, round {round_no}):")
    if phase == "queued":
        koji_cli(box, "cancel", str(task_id))
        box.start_worker()
        time.sleep(2 * box.worker_poll + 1.0)  # the worker has seen the queue
    else:
        if not wait_for(lambda: proctree.processes_matching(marker), timeout=180):
            raise SystemExit(f"{phase}: the build never reached its RUN step (task {task_id})")
        if phase == "printing build":
            wait_for(lambda: any(session.listTaskOutput(task_id)), timeout=30)
            time.sleep(1.0)  # let it print for a while
        task_pids = [task_process(box, task_id)[0]]
        start = time.time()
        koji_cli(box, "cancel", str(task_id))
        stopped = wait_for(
            lambda: not proctree.processes_matching(marker), timeout=30, interval=0.01
        )
        end = time.time() if stopped else float("inf")
        wait_for(lambda: sigint_time(box, task_pids) < float("inf"), timeout=10)
        signalled = sigint_time(box, task_pids)
        if signalled == float("inf"):
            print(f"  no SIGINT to the task process {task_pids} in the worker log")
        elapsed = end - signalled if signalled < float("inf") else float("inf")
        figures.report("SIGINT to the task -> backend build stopped", elapsed,
                       STOP_LIMIT, "s")  # fmt: skip
        figures.report("koji cancel started -> backend build stopped", end - start,
                       COMMAND_LIMIT, "s")  # fmt: skip
    child = task_process(box, task_id)
    wait_for(lambda: child is None or not proctree.is_alive(child), timeout=30)
    time.sleep(0.5)
    build = session.getBuild(f"{component}-1.0-1")
    building = int(bool(build) and koji.BUILD_STATES[build["state"]] == "BUILDING")
    tags = len(registry_tags(box, f"bench/{component}"))
    procs = len(proctree.processes_matching(marker) + box.build_processes(task_id))
    procs += int(child is not None and proctree.is_alive(child))
    figures.report("BUILDING builds left", building, LEFTOVER_LIMIT, "")
    figures.report("tags left in the registry", tags, LEFTOVER_LIMIT, "")
    figures.report("processes left", procs, LEFTOVER_LIMIT, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="bench-cancel-", dir="/var/tmp") as state:
        box = runtime.Sandbox(os.path.join(state, "sandbox"), worker_poll=0.2)
        box.start()
        try:
            session = box.session(runtime.USER)
            for round_no in range(args.rounds):
                for phase in PHASES:
                    run_phase(box, session, state, phase, round_no, figures)
        finally:
            box.stop()
    if figures.missed:
        print("MISSED: " + ", ".join(sorted(set(figures.missed))))
        return 1
    print("all figures within their limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
