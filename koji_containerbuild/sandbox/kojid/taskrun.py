"""Run one Koji task in its own process, as kojid's forked task child does.

The sandbox worker forks a child for every task it opens, as kojid does
(:func:`run_child`); ``python3 -m koji_containerbuild.sandbox.kojid.taskrun`` runs
one task the same way from a shell. The child logs in as the build host, loads the
builder plugin file with koji's PluginTracker (the loader kojid uses), builds
the handler with kojid's constructor arguments, runs it and reports the
result with ``host.closeTask`` or ``host.failTask`` exactly like kojid's
TaskManager.runTask, so plugin code sees no difference from production.
"""

from __future__ import annotations

import argparse
import json
import logging
import optparse
import os
import signal
import sys
import traceback
from typing import Any

import koji
import koji.plugin
import koji.tasks
import koji.xmlrpcplus

from koji_containerbuild.sandbox.kojid.tagbuild import BUILTIN_HANDLERS

LOGGER = logging.getLogger("koji.build")

#: Environment variable carrying the host password (kept off the command line).
PASSWORD_ENV = "KOJI_SANDBOX_HOST_PASSWORD"


def load_handlers(plugin_file: str) -> dict[str, type]:
    """Load a builder plugin file and index its task handlers by method.

    Like kojid: its own handlers (tagBuild) first, then every BaseTaskHandler
    subclass in the module registers each name in its ``Methods``.
    """
    directory, filename = os.path.split(os.path.abspath(plugin_file))
    name = filename[:-3] if filename.endswith(".py") else filename
    tracker = koji.plugin.PluginTracker(path=[directory])
    # reload: a process may load the same file twice (tests start two workers).
    module = tracker.load(name, reload=True)
    handlers: dict[str, type] = dict(BUILTIN_HANDLERS)
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, koji.tasks.BaseTaskHandler):
            for method in value.Methods:
                handlers[method] = value
    return handlers


def options_from_dict(data: dict[str, Any]) -> optparse.Values:
    """kojid hands handlers an optparse.Values; keep that type."""
    return optparse.Values(dict(data))


def report_result(session: Any, handler: Any) -> None:
    """Run the handler and report its outcome the way kojid's runTask does."""
    try:
        result = (handler.run(),)
        response = koji.xmlrpcplus.dumps(result, methodresponse=1, allow_none=1)
        session.host.closeTask(handler.id, response)
        LOGGER.info("Task %s closed", handler.id)
        return
    except koji.xmlrpcplus.Fault as fault:
        response = koji.xmlrpcplus.dumps(fault)
        LOGGER.warning("Task %s fault:\n%s", handler.id, traceback.format_exc())
    except (SystemExit, KeyboardInterrupt, koji.tasks.ServerExit):
        raise
    except koji.tasks.RefuseTask as refuse:
        LOGGER.warning("Refusing task %s: %s", handler.id, refuse)
        session.host.refuseTask(handler.id, msg=str(refuse))
        return
    except koji.tasks.ServerRestart:
        session.host.freeTasks([handler.id])
        return
    except Exception as exc:
        trace = traceback.format_exc()
        LOGGER.warning("Task %s failed:\n%s", handler.id, trace)
        fault_code = getattr(type(exc), "faultCode", 1)
        # koji errors carry a message meant for the user; others the traceback.
        message = str(exc) if isinstance(exc, koji.GenericError) else trace
        response = koji.xmlrpcplus.dumps(koji.xmlrpcplus.Fault(fault_code, message))
    session.host.failTask(handler.id, response)
    LOGGER.info("Task %s failed", handler.id)


def run(
    server: str,
    user: str,
    password: str,
    plugin_file: str,
    task_id: int,
    options: optparse.Values,
    handlers: dict[str, type] | None = None,
    sinfo: dict | None = None,
) -> None:
    """Log in, build the handler for ``task_id`` and run it to its report.

    ``handlers`` are the plugin's handlers when the caller loaded them already
    (a task forked from the worker, as kojid forks its task children);
    ``sinfo`` is the subsession the worker made for the task, as kojid's
    forkTask does (it expires it when it cleans up after the task).
    """
    if handlers is None:
        handlers = load_handlers(plugin_file)
    session_opts = {
        "user": user,
        "password": password,
        "use_fast_upload": getattr(options, "use_fast_upload", True),
        "max_retries": 3,
        "retry_interval": 1,
        "anon_retry": True,
    }
    session = koji.ClientSession(server, session_opts)
    if sinfo is not None:
        session.setSession(sinfo)
    else:
        session.login()
    try:
        info = session.getTaskInfo(task_id, request=True)
        method = info["method"]
        if method not in handlers:
            raise koji.GenericError(f"no handler for method {method!r} in {plugin_file}")
        workdir = os.path.join(options.workdir, koji.pathinfo.taskrelpath(task_id))
        handler = handlers[method](task_id, method, info["request"], session, options, workdir)
        report_result(session, handler)
    finally:
        try:
            session.logout()
        except Exception:
            LOGGER.debug("Logout failed", exc_info=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--plugin", required=True, help="builder plugin file")
    parser.add_argument("--options", required=True, help="JSON file with kojid options")
    parser.add_argument("--task-id", required=True, type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s [%(process)d] %(name)s %(levelname)s: %(message)s",
    )
    with open(args.options, encoding="utf-8") as handle:
        options = options_from_dict(json.load(handle))
    password = os.environ.get(PASSWORD_ENV, "")
    return run_child(args.server, args.user, password, args.plugin, args.task_id, options)


def run_child(
    server: str,
    user: str,
    password: str,
    plugin_file: str,
    task_id: int,
    options: optparse.Values,
    handlers: dict[str, type] | None = None,
    sinfo: dict | None = None,
) -> int:
    """The task child's life: run the task; the exit status for the worker."""
    # kojid's task children ignore SIGUSR2 (it only wakes them up).
    signal.signal(signal.SIGUSR2, lambda *_: None)
    try:
        run(server, user, password, plugin_file, task_id, options, handlers, sinfo)
    except KeyboardInterrupt:
        LOGGER.info("Task %s interrupted", task_id)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
