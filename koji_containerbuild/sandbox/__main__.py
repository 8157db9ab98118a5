"""``python3 -m koji_containerbuild.sandbox start|status|stop|reset|demo``.

``start`` runs the sandbox in a background supervisor process (``serve``)
that owns the hub, worker, registry and git daemon and stops them all when it
gets SIGTERM (``stop``). This is the user interface: it prints.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from koji_containerbuild.sandbox.env import hosts as sandbox_hosts
from koji_containerbuild.sandbox.env import layout, runtime
from koji_containerbuild.sandbox.env.gitserve import GitServeError
from koji_containerbuild.sandbox.env.registry import RegistryError


def _print_ready(info: dict) -> None:
    state = info["state_dir"]
    command = runtime.koji_command_text(state)
    print(f"Sandbox running (state in {state}).")
    print(f"  hub:      {info['hub_url']}")
    print(f"  web:      {layout.weburl_for(info['hub_url'])}/index")
    print(f"  registry: {info['registry']} (plain HTTP)")
    print(f"  git:      {info['git_url']}/<repo>")
    hosts = info.get("hosts") or []
    if hosts:
        listed = ", ".join(f"{h['name']} ({' '.join(h['arches'])})" for h in hosts)
        print(f"  hosts:    {listed}, in channel {runtime.CHANNEL}")
    print(f"  target {runtime.TARGET}: {runtime.BUILD_TAG} -> {runtime.DEST_TAG};"
          f" users {runtime.USER}, admin {runtime.ADMIN} (admin)")  # fmt: skip
    print(
        f"  passwords: random, one file per user (mode 0600) in {runtime.Paths(state).passwords}"
    )
    print("Use the koji command line as (the password is read from its file):")
    print(f"  {command} container-build {runtime.TARGET} <git://...#commit> --git-branch main")


def cmd_serve(args: argparse.Namespace) -> int:
    """Foreground supervisor: run until SIGTERM/SIGINT, then stop everything."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sandbox = runtime.Sandbox(args.state_dir, hosts=args.host_specs)
    try:
        try:
            sandbox.start()
        except (runtime.SandboxError, RegistryError, GitServeError) as exc:
            # A missing tool or a busy resource: one sentence, no traceback.
            print(f"sandbox: {exc}", file=sys.stderr)
            return 1
        while not stop.wait(1.0):
            for host in sandbox.exited_workers():
                logging.getLogger(runtime.LOGGER.name).warning(
                    "Worker of host %s exited; restarting it", host
                )
                sandbox.start_worker(host)
    finally:
        sandbox.stop()
    return 0


def _running_with_other_hosts(info: dict, args: argparse.Namespace) -> bool:
    """Say so (one sentence) when --hosts asks for other hosts than the running sandbox's."""
    if args.hosts is None:
        return False
    running = [(h["name"], tuple(h["arches"])) for h in info.get("hosts") or []]
    if running == [(h.name, h.arches) for h in args.host_specs]:
        return False
    print(
        f"sandbox: the running sandbox has other hosts than --hosts {args.hosts};"
        " stop it first (python3 -m koji_containerbuild.sandbox stop).",
        file=sys.stderr,
    )
    return True


def cmd_start(args: argparse.Namespace) -> int:
    info = runtime.read_info(args.state_dir)
    if info is not None and _running_with_other_hosts(info, args):
        return 1
    if info is None:
        info = start_background(args.state_dir, hosts=args.hosts)
        if info is None:
            return 1
    _print_ready(info)
    return 0


def start_background(state_dir: str, timeout: float = 120.0,
                     hosts: str | None = None) -> dict | None:  # fmt: skip
    """Start the supervisor detached from this terminal and wait until it is ready."""
    paths = runtime.Paths(state_dir)
    paths.make()
    log_path = os.path.join(paths.logs, "sandbox.log")
    env = runtime.plugin_env(paths)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "koji_containerbuild.sandbox",
                "--state-dir",
                paths.state,
                *(["--hosts", hosts] if hosts is not None else []),
                "serve",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = runtime.read_info(paths.state)
        if info is not None and info.get("pid") == process.pid:
            return info
        if process.poll() is not None:
            print(f"The sandbox failed to start; see {log_path}:", file=sys.stderr)
            with open(log_path, encoding="utf-8", errors="replace") as log:
                print("".join(log.readlines()[-15:]), file=sys.stderr)
            return None
        time.sleep(0.2)
    process.terminate()
    print(f"The sandbox did not become ready in {timeout:.0f} s; see {log_path}.",
          file=sys.stderr)  # fmt: skip
    return None


def stop_background(state_dir: str, timeout: float = 60.0) -> bool:
    """Stop a running supervisor; True when one was running."""
    info = runtime.read_info(state_dir)
    if info is None:
        return False
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and runtime.alive(info["pid"]):
        time.sleep(0.2)
    if runtime.alive(info["pid"]):
        os.kill(info["pid"], signal.SIGKILL)
    return True


def cmd_stop(args: argparse.Namespace) -> int:
    if stop_background(args.state_dir):
        print("Sandbox stopped.")
    else:
        print("No sandbox is running.")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    stop_background(args.state_dir)
    if os.path.isdir(args.state_dir):
        shutil.rmtree(args.state_dir)
    print(f"Sandbox state removed ({args.state_dir}).")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    info = runtime.read_info(args.state_dir)
    if info is None:
        print(f"No sandbox is running (state dir {args.state_dir}).")
        return 3
    _print_ready(info)
    workers = [(h["name"], h["worker_pid"]) for h in info.get("hosts") or []]
    shown = ", ".join(
        f"worker of {name} {pid} ({'running' if pid and runtime.alive(pid) else 'gone'})"
        for name, pid in workers
    )
    print(f"Processes: supervisor {info['pid']}, {shown}")
    import koji

    session = koji.ClientSession(info["hub_url"])
    try:
        tasks = session.listTasks(queryOpts={"order": "-id", "limit": 10})
        print("Recent tasks:")
        for task in tasks:
            state = koji.TASK_STATES[task["state"]]
            print(f"  {task['id']:>5} {task['method']:<22} {state}")
        builds = session.listBuilds(queryOpts={"order": "-build_id", "limit": 10})
        print("Recent builds:")
        for build in builds:
            print(f"  {build['build_id']:>5} {build['nvr']} {koji.BUILD_STATES[build['state']]}")
    except koji.GenericError as exc:
        print(f"Could not list tasks and builds: {exc}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from koji_containerbuild.sandbox.env import demo

    info = runtime.read_info(args.state_dir)
    if info is not None and _running_with_other_hosts(info, args):
        return 1
    if info is None:
        print("Starting the sandbox...", flush=True)
        info = start_background(args.state_dir, hosts=args.hosts)
        if info is None:
            return 1
    _print_ready(info)
    return demo.run_demo(info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m koji_containerbuild.sandbox",
        description="A local Koji hub + builder sandbox running the real plugins.",
    )
    parser.add_argument(
        "--state-dir",
        default=runtime.default_state_dir(),
        help=f"sandbox directory (default: ${runtime.STATE_ENV} or <repo>/.sandbox)",
    )
    parser.add_argument(
        sandbox_hosts.HOSTS_OPTION,
        dest="hosts",
        metavar="HOSTS",
        help="builder hosts: a count (2: two of this machine's arch) or one entry per host,"
        " [NAME=]ARCH[+ARCH], e.g. x86_64,aarch64 (default: one host of this machine's arch)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("start", cmd_start, "start the sandbox in the background"),
        ("status", cmd_status, "show addresses, processes, tasks and builds"),
        ("stop", cmd_stop, "stop everything the sandbox started"),
        ("reset", cmd_reset, "stop the sandbox and delete its state"),
        ("demo", cmd_demo, "build examples/demo-image through koji container-build"),
        ("serve", cmd_serve, "run the sandbox in the foreground (used by start)"),
    ):
        commands.add_parser(name, help=text).set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.state_dir = os.path.abspath(args.state_dir)
    args.host_specs = None
    if args.hosts is not None:
        try:
            args.host_specs = sandbox_hosts.parse_hosts(args.hosts, runtime.host_arch())
        except sandbox_hosts.HostsError as error:
            print(f"sandbox: {error}", file=sys.stderr)
            return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
