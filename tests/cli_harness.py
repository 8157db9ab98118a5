"""Run the real `koji` command with this repository's CLI plugin, for the CLI tests.

The plugin is loaded the way users load it (--plugin-paths); the hub is the
sandbox hub with the real hub plugin, served over Koji's XML-RPC protocol.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from koji_containerbuild.sandbox.env.layout import koji_executable

REPO = Path(__file__).resolve().parent.parent
WEBURL = "http://koji.example.com/koji"
SOURCE = "git://git.example.com/containers/demo-image.git#0123abcd"
COMMANDS = ("container-build", "flatpak-build", "source-container-build")


class KojiCLI:
    """Runs the real koji command with this repository's plugin and library."""

    def __init__(self, tmp_path: Path, server_url: str, topurl: str | None = None):
        self.config = tmp_path / "koji.conf"
        self.config.write_text(
            "[sandbox]\n"
            f"server = {server_url}\n"
            f"weburl = {WEBURL}\n"
            + (f"topurl = {topurl}\n" if topurl else "")
            + "authtype = password\n"
            "poll_interval = 1\n"
        )
        self.env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(tmp_path))

    def command(self, args, user="alice"):
        return [
            koji_executable(),
            "--config",
            str(self.config),
            "--profile",
            "sandbox",
            "--user",
            user,
            "--password",
            user,
            "--plugin-paths",
            str(REPO / "cli"),
            *args,
        ]

    def run(self, *args, user="alice", timeout=60, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(args, user),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
        )

    def start(self, *args, user="alice") -> subprocess.Popen:
        return subprocess.Popen(
            self.command(args, user),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )


def hub_tasks(hub) -> list[dict]:
    return hub.call("listTasks", [], {})


def task_request(hub, task_id: int) -> list:
    return hub.call("getTaskInfo", [task_id], {"request": True})["request"]
