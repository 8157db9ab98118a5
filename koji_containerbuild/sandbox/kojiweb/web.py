"""The sandbox's read-only Koji web view: kojiweb's URLs under the profile's weburl.

server.py hands every request for /koji/... to respond(). Pages read the hub
through its API as an anonymous session (what any Koji client would see),
never from the database; nothing here changes state and only GET and HEAD are
answered. Besides kojiweb's pages (index, tasks, taskinfo, builds, buildinfo,
packageinfo, taginfo, getfile) there is tasklogs, a small JSON answer the
live log tail polls.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

import koji

from koji_containerbuild.sandbox.kojiweb import web_html, web_pages

logger = logging.getLogger("koji.plugin.containerbuild.sandbox.web")

PREFIX = "/koji"
#: largest piece of a task output file one getfile answer carries
MAX_CHUNK = 1024 * 1024
#: scripts and styles only from this server; nothing fetched from elsewhere
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class HubReader:
    """The hub's API called as an anonymous session, without marshalling."""

    def __init__(self, hub: Any):
        self._hub = hub

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._hub.call(method, args, kwargs)

        return call


def owns(raw_path: str) -> bool:
    """Whether a request path belongs to the web view."""
    path = raw_path.partition("?")[0]
    return path == PREFIX or path.startswith(PREFIX + "/")


def respond(hub: Any, method: str, raw_path: str) -> Answer:
    """The answer to one request for a web view path, with the security headers."""
    answer = _respond(hub, method, raw_path)
    answer.headers = {**SECURITY_HEADERS, **answer.headers}
    return answer


def _respond(hub: Any, method: str, raw_path: str) -> Answer:
    if method not in ("GET", "HEAD"):
        return _error(405, "The Koji web view is read-only: only GET and HEAD are answered.", {
            "Allow": "GET, HEAD"
        })  # fmt: skip
    path, _, query = raw_path.partition("?")
    if path == PREFIX:
        # the pages link relatively (taskinfo?taskID=1), as kojiweb's do
        return Answer(301, "text/plain; charset=utf-8", b"", {"Location": PREFIX + "/"})
    page = urllib.parse.unquote(path[len(PREFIX) :]).strip("/") or "index"
    params = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    reader = HubReader(hub)
    try:
        if page.startswith("static/"):
            return _static(page[len("static/") :])
        if page == "getfile":
            return _getfile(reader, params)
        if page == "tasklogs":
            return _tasklogs(reader, params)
        render = web_pages.PAGES.get(page)
        if render is None:
            raise web_html.UserError(404, f"There is no page {page!r}; start at {PREFIX}/index.")
        title, body = render(reader, params)
    except web_html.UserError as exc:
        return _error(exc.status, str(exc))
    except koji.GenericError as exc:
        return _error(404, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception:
        logger.exception("web view page %s failed", page)
        return _error(500, "The page failed; the sandbox log has the details.")
    return Answer(200, "text/html; charset=utf-8", web_html.frame(title, body).encode("utf-8"))


def _error(status: int, sentence: str, headers: dict[str, str] | None = None) -> Answer:
    page = web_html.frame("Error", web_html.tag("p", sentence, class_="failure"))
    return Answer(status, "text/html; charset=utf-8", page.encode("utf-8"), headers or {})


def _static(name: str) -> Answer:
    if name == "koji.css":
        return Answer(200, "text/css; charset=utf-8", web_html.CSS.encode("utf-8"))
    if name == "koji.js":
        return Answer(200, "text/javascript; charset=utf-8", web_html.JS.encode("utf-8"))
    raise web_html.UserError(404, f"There is no static file {name!r}.")


def _task_or_404(reader: HubReader, task_id: int) -> dict:
    info = reader.getTaskInfo(task_id)
    if info is None:
        raise web_html.UserError(
            404, f"There is no task {task_id} on this hub; see the task list."
        )
    return info


def _getfile(reader: HubReader, params: dict[str, str]) -> Answer:
    """A task output file from a byte offset (kojiweb's getfile), as plain bytes."""
    task_id = web_html.number_param(params, "taskID")
    _task_or_404(reader, task_id)
    name = params.get("name") or ""
    offset = params.get("offset") or "0"
    try:
        offset_value = max(0, int(offset))
    except ValueError:
        raise web_html.UserError(
            400, f"offset must be a number of bytes, not {offset!r}."
        ) from None
    if name not in reader.listTaskOutput(task_id):
        raise web_html.UserError(404, f"Task {task_id} has no output file {name!r}.")
    data = base64.b64decode(reader.downloadTaskOutput(task_id, name, offset_value, MAX_CHUNK))
    # text/plain only for logs; nosniff keeps a browser from running anything
    kind = "text/plain; charset=utf-8" if name.endswith(".log") else "application/octet-stream"
    return Answer(200, kind, data)


def _tasklogs(reader: HubReader, params: dict[str, str]) -> Answer:
    """A task's state and the sizes of its log files, for the live tail."""
    task_id = web_html.number_param(params, "taskID")
    # The state first: logs written before the task finished are all counted.
    info = _task_or_404(reader, task_id)
    sizes = web_pages.log_sizes(reader, task_id)
    state = koji.TASK_STATES[info["state"]]
    finished = state in ("CLOSED", "FAILED", "CANCELED")
    body = {"state": state, "finished": finished, "logs": sizes}
    return Answer(200, "application/json", json.dumps(body).encode("utf-8"))
