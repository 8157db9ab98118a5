"""A real browser for the web view tests: Debian's/Fedora's chromium, headless.

dump_dom() and screenshot() are one-shot runs (--dump-dom, --screenshot).
LivePage keeps a page open and reads it while its scripts run, through the
DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, JSON
messages ending in NUL), so no port and no websocket client are needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from typing import Any

NAMES = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_chromium() -> str | None:
    for name in NAMES:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/lib/chromium")
        if found:
            return found
    return None


def _command(binary: str, profile: str, *extra: str) -> list[str]:
    return [binary, *FLAGS, f"--user-data-dir={profile}", *extra]


def dump_dom(binary: str, url: str, timeout: float = 90) -> str:
    """The DOM after the page loaded, as chromium serialises it."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [*_command(binary, profile), "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout, check=True,
        )  # fmt: skip
    return done.stdout


def screenshot(binary: str, url: str, path: str, size: str = "1100,820") -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [*_command(binary, profile, f"--window-size={size}", "--hide-scrollbars",
                       f"--screenshot={os.path.abspath(path)}"), url],
            capture_output=True, timeout=90, check=True,
        )  # fmt: skip


class LivePage:
    """One open page in a headless chromium, read through the DevTools pipe."""

    def __init__(self, binary: str, url: str, javascript: bool = True):
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        command = _command(binary, self._profile.name, "--remote-debugging-pipe", "about:blank")

        def wire_fds() -> None:
            # Out of the way first, so neither end is overwritten by the other's dup2.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        # close_fds would run after wire_fds and close 3 and 4; Python's own
        # descriptors are close-on-exec anyway, the dup2 copies are not.
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire_fds,
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._session = self._attach()
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", {"value": True}, self._session)
        self.call("Page.navigate", {"url": url}, self._session)

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("chromium did not answer on its DevTools pipe")
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                raise ConnectionError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:  # fmt: skip
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def _attach(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pages = [
                t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"
            ]
            if pages:
                attached = self.call(
                    "Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True}
                )
                return attached["sessionId"]
            time.sleep(0.1)
        raise TimeoutError("chromium opened no page")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, self._session
        )
        return result.get("result", {}).get("value")

    def html(self) -> str:
        """The document as it is now (DOM.getOuterHTML: works with scripts off too)."""
        root = self.call("DOM.getDocument", {"depth": -1}, self._session)["root"]
        return self.call("DOM.getOuterHTML", {"nodeId": root["nodeId"]}, self._session)[
            "outerHTML"
        ]

    def text(self) -> str:
        """What the page shows now (document.body.innerText), '' while it loads."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, wanted: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.text()
            if wanted in shown:
                return shown
            time.sleep(0.25)
        raise AssertionError(f"the page never showed {wanted!r}; it shows:\n{shown}")

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, ConnectionError, RuntimeError):
            self.call("Browser.close", timeout=5)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    def __enter__(self) -> LivePage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
