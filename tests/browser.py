"""A real browser for the web view tests: Debian's/Fedora's chromium, headless.

One chromium serves all the pages of a test session (a Browser): starting it
costs about a CPU-second, a page in it a small part of that. Each page opens
in a browser context of its own (no cookies, cache or storage shared with
another page, as separate profiles would be). The browser is driven through
the DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, JSON
messages ending in NUL), so no port and no websocket client are needed.
"""

from __future__ import annotations

import base64
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


class Browser:
    """One headless chromium and its DevTools pipe; pages are LivePage objects."""

    def __init__(self, binary: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        command = [binary, *FLAGS, f"--user-data-dir={self._profile.name}",
                   "--remote-debugging-pipe", "about:blank"]  # fmt: skip

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
        #: events read while waiting for an answer, for wait_event
        self._events: list[dict] = []

    def _send(self, method: str, params: dict | None, session: str | None) -> int:
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
            if "method" in message:
                self._events.append(message)

    def wait_event(self, method: str, session: str, timeout: float) -> dict:
        """The first event ``method`` of ``session`` not waited for yet."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self._events:
                if event["method"] == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            message = self._receive(deadline)
            if "method" in message:
                self._events.append(message)

    def forget_events(self, session: str) -> None:
        self._events = [e for e in self._events if e.get("sessionId") != session]

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


class LivePage:
    """One open page of a Browser, read while its scripts run."""

    def __init__(self, browser: Browser, url: str, javascript: bool = True,
                 size: tuple[int, int] | None = None) -> None:  # fmt: skip
        self._browser = browser
        self._context = browser.call("Target.createBrowserContext")["browserContextId"]
        self._target = browser.call(
            "Target.createTarget", {"url": "about:blank", "browserContextId": self._context}
        )["targetId"]
        self._session = browser.call(
            "Target.attachToTarget", {"targetId": self._target, "flatten": True}
        )["sessionId"]
        self.call("Page.enable")
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", {"value": True})
        if size is not None:
            width, height = size
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            self.call("Emulation.setDeviceMetricsOverride", metrics)
            self.call("Emulation.setScrollbarsHidden", {"hidden": True})
        self.call("Page.navigate", {"url": url})

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        return self._browser.call(method, params, self._session, timeout)

    def wait_loaded(self, timeout: float = 90) -> None:
        """Until the page's load event (what --dump-dom and --screenshot wait for)."""
        self._browser.wait_event("Page.loadEventFired", self._session, timeout)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def html(self) -> str:
        """The document as it is now (DOM.getOuterHTML: works with scripts off too)."""
        root = self.call("DOM.getDocument", {"depth": -1})["root"]
        return self.call("DOM.getOuterHTML", {"nodeId": root["nodeId"]})["outerHTML"]

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

    def png(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, ConnectionError, RuntimeError):
            self._browser.call("Target.closeTarget", {"targetId": self._target})
            self._browser.call("Target.disposeBrowserContext", {"browserContextId": self._context})
        self._browser.forget_events(self._session)

    def __enter__(self) -> LivePage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dump_dom(browser: Browser, url: str, timeout: float = 90) -> str:
    """The DOM once the page loaded, as chromium serialises it."""
    with LivePage(browser, url) as page:
        page.wait_loaded(timeout)
        return page.html()


def screenshot(browser: Browser, url: str, path: str, size: tuple[int, int] = (1100, 820)) -> None:
    """A PNG of the loaded page at ``size`` (width, height), without scrollbars."""
    with LivePage(browser, url, size=size) as page:
        page.wait_loaded()
        data = page.png()
    with open(path, "wb") as handle:
        handle.write(data)
