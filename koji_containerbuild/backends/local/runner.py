"""The detached process that runs one local build (its steps: :mod:`.local_build`).

Forked by the local backend from the task process (:func:`start_detached`; by
hand: ``python -m koji_containerbuild.backends.local.runner BUILD_DIR``); it
detaches from the task process (own session, reparented to init),
so the build goes on when kojid restarts the task, and a new task process
follows it through the files in BUILD_DIR: the framed log, the push journal and
the final status. The runner holds a lease on its Koji task
(:mod:`.local_lease`): once the task ended without importing the build, the
build stops and its pushes are withdrawn.
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import traceback

from koji_containerbuild.backends.local import buildah as bh
from koji_containerbuild.backends.local import registry
from koji_containerbuild.backends.local.build import BuildCancelled, BuildFailed, Runner
from koji_containerbuild.backends.local.image_list import ListRunner
from koji_containerbuild.backends.local.lease import LeaseWatch


def execute(build_dir: str) -> None:
    """Run the build and always leave a status file behind."""
    spec = bh.read_json(os.path.join(build_dir, bh.BUILD_FILE))
    runner = ListRunner(build_dir) if spec.get("images") else Runner(build_dir)
    status_path = os.path.join(build_dir, bh.STATUS_FILE)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()
    watch = LeaseWatch(build_dir, spec.get("lease"), lambda text: runner.log.write(None, text))
    watch.start()
    try:
        status = runner.run()
        runner.log.write(None, "Build finished: " + " ".join(status["repositories"]))
    except BuildCancelled:
        runner.log.write(None, "Build cancelled.")
        registry.withdraw_pushes(build_dir, runner.settings)
        status = {"outcome": "cancelled", "reason": "The build was cancelled."}
    except BuildFailed as exc:
        runner.log.write(None, f"Build failed: {exc}")
        registry.withdraw_pushes(build_dir, runner.settings)
        status = {"outcome": "failed", "reason": str(exc)}
    except Exception as exc:  # the owner gets a sentence, the log keeps the traceback
        for line in traceback.format_exc().splitlines():
            runner.log.write(None, line)
        registry.withdraw_pushes(build_dir, runner.settings)
        status = {"outcome": "failed", "reason": f"The local build runner failed: {exc}"}
    watch.stop()
    cancelled = os.path.exists(os.path.join(build_dir, bh.CANCEL_FILE))
    if cancelled and status["outcome"] == "failed":  # its processes were stopped by cancel()
        status = {"outcome": "cancelled", "reason": "The build was cancelled."}
    if watch.ended_state:  # the task ended first: whatever the steps did is withdrawn
        if status["outcome"] == "succeeded":
            registry.withdraw_pushes(build_dir, runner.settings)
        status = {
            "outcome": "cancelled",
            "reason": f"Task {watch.ended_task} ended ({watch.ended_state}) while its build ran.",
        }
    status.setdefault("build_name", runner.handle)
    status["started"] = started
    status["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    bh.write_json(status_path, status)
    if status["outcome"] == "succeeded" and watch.linger():
        why = (
            f"Task {watch.ended_task} ended ({watch.ended_state})"
            if watch.ended_state
            else ("The build was cancelled")
        )
        runner.log.write(None, f"{why} without importing it: withdrawing its pushes.")
        status["withdrawn"] = registry.withdraw_pushes(build_dir, runner.settings) == []
        bh.write_json(status_path, status)
    runner.log.close()


def detach_and_run(build_dir: str) -> int:
    """Fork: the child runs the build, the parent records it and exits.

    The child is reparented to init, so it is never a zombie of the task
    process and kojid's kill of the task's process tree does not reach it:
    cancelling goes through the backend's cancel(), as with OSBS.
    """
    pid = os.fork()
    if pid:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            start_ticks = handle.read().rsplit(")", 1)[1].split()[19]
        bh.write_json(
            os.path.join(build_dir, bh.RUNNER_FILE),
            {"pid": pid, "pgid": os.getpgid(0), "start_ticks": start_ticks},
        )
        return 0
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        execute(build_dir)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def blank_inherited_descriptors() -> None:
    """Point every descriptor above stderr at /dev/null, keeping its number taken.

    The forked runner still holds the task process's Python objects (its hub
    connection, log files), which close their descriptor numbers whenever the
    garbage collector gets to them. Closed outright here, those numbers would
    be handed to the runner's own files and pipes, and a stale object's close
    would then close one of them under the build ("Bad file descriptor").
    Replaced by /dev/null, the task's files and sockets are let go all the
    same, and a stale close only closes /dev/null.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in sorted(map(int, os.listdir("/proc/self/fd"))):
        if descriptor <= 2 or descriptor == devnull:
            continue
        try:
            os.fstat(descriptor)
        except OSError:  # the listing's own, closed by now
            continue
        os.dup2(devnull, descriptor, inheritable=False)
    os.close(devnull)


def start_detached(build_dir: str) -> None:
    """In a child just forked from the task process: detach, start the runner, exit.

    Nothing of the task process may leak into the build: its descriptors (the
    hub connection among them) are closed and its signal handlers reset.
    Never returns; the exit status says whether the runner was recorded.
    """
    code = 1
    try:
        os.setsid()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR2):
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(build_dir)
        errors = os.open(
            os.path.join(build_dir, "runner.err"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
        )
        os.dup2(errors, 1)
        os.dup2(errors, 2)
        os.close(errors)
        blank_inherited_descriptors()
        code = detach_and_run(build_dir)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not os.path.isfile(os.path.join(argv[0], bh.BUILD_FILE)):
        sys.stderr.write("usage: python -m koji_containerbuild.backends.local.runner BUILD_DIR\n")
        return 2
    return detach_and_run(os.path.abspath(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
