"""Building blocks of the sandbox web view: parameters, escaping, tables, the frame.

Everything a page shows comes from builds and users (labels, log lines, task
results, file names), so every text goes through text() before it lands in
markup; markup is only ever made here, from escaped pieces.
"""

from __future__ import annotations

import datetime
import html
import json
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

#: C0/C1 control characters (tab and newline stay), shown as U+FFFD
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class UserError(Exception):
    """A request the user can fix: answered with its status and one sentence."""

    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status = status


def number_param(params: dict[str, str], name: str) -> int:
    """An ID parameter as a number, or the sentence that names it and the fix."""
    value = params.get(name)
    if value is None or value == "":
        raise UserError(400, f"This page needs {name}=NUMBER in its address.")
    try:
        return int(value)
    except ValueError:
        raise UserError(400, f"{name} must be a number, not {value!r}.") from None


def id_or_name_param(params: dict[str, str], name: str) -> int | str:
    """An ID parameter that may also be a name, as kojiweb accepts it."""
    value = params.get(name) or ""
    if not value:
        raise UserError(400, f"This page needs {name}=ID (or a name) in its address.")
    return int(value) if value.isdigit() else value


def missing(what: str) -> UserError:
    return UserError(404, f"There is no {what} on this hub.")


class Markup(str):
    """Text that is already safe HTML (made by the helpers here).

    Adding anything to it escapes the other side, so markup + value stays safe.
    """

    def __add__(self, other: Any) -> Markup:
        return Markup(str.__add__(self, text(other)))

    def __radd__(self, other: Any) -> Markup:
        return Markup(str.__add__(text(other), self))


def text(value: Any) -> Markup:
    """Any value as safe HTML text: escaped, control characters replaced."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return Markup(html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    return Markup(sep.join(text(part) for part in parts))


def tag(name: str, body: Any = "", **attrs: Any) -> Markup:
    """<name attrs>body</name>; attribute values are escaped, class_ means class."""
    rendered = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{text(value)}"'
        for key, value in attrs.items()
        if value is not None
    )
    return Markup(f"<{name}{rendered}>{text(body)}</{name}>")


def link(href: str, body: Any, **attrs: Any) -> Markup:
    return tag("a", body, href=href, **attrs)


def page_url(page: str, **params: Any) -> str:
    """A relative kojiweb URL such as taskinfo?taskID=1."""
    return f"{page}?{urllib.parse.urlencode(params)}" if params else page


def task_link(task_id: Any, body: Any = None) -> Markup:
    return link(page_url("taskinfo", taskID=task_id), body if body is not None else task_id)


def build_link(build_id: Any, body: Any = None) -> Markup:
    return link(page_url("buildinfo", buildID=build_id), body if body is not None else build_id)


def state(name: str, element_id: str | None = None) -> Markup:
    return tag("span", name, class_=f"state state-{name.lower()}", id=element_id)


def code(value: Any) -> Markup:
    return tag("code", value)


def pull_spec(spec: str) -> Markup:
    """A pull spec in a box that selects as one piece, for copying."""
    return tag("code", spec, class_="pullspec", title="pull spec")


def items(values: Iterable[Any]) -> Markup:
    return tag("ul", join(tag("li", value) for value in values))


def facts(rows: Iterable[tuple[str, Any]]) -> Markup:
    """A two-column table of label and value; rows whose value is None are left out."""
    body = join(
        tag("tr", tag("th", label) + tag("td", value))
        for label, value in rows
        if value is not None
    )
    return tag("table", body, class_="facts")


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], empty: str = "None") -> Markup:
    rows = list(rows)
    if not rows:
        return tag("p", empty, class_="empty")
    head = tag("tr", join(tag("th", h) for h in headers))
    body = join(tag("tr", join(tag("td", cell) for cell in row)) for row in rows)
    return tag("table", head + body, class_="list")


def section(title: str, body: Any, **attrs: Any) -> Markup:
    return tag("section", tag("h2", title) + text(body), **attrs)


def structured(value: Any) -> Markup:
    """A value from a request or result: text and lists of text as is, the rest as JSON."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return code(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return join((code(v) for v in value), ", ")
    return tag("pre", json.dumps(value, indent=2, sort_keys=True, default=str), class_="json")


def when(ts: float | None) -> str | None:
    if ts is None:
        return None
    moment = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: float | None, end: float | None) -> str | None:
    if start is None or end is None:
        return None
    seconds = max(0, round(end - start))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def size(value: Any) -> str:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if number < 1024 or unit == "GiB":
            shown = f"{number:.1f}" if unit != "bytes" else str(number)
            return f"{shown} {unit}"
        number /= 1024
    return str(value)


_NAV = (("index", "Summary"), ("tasks", "Tasks"), ("builds", "Builds"))


def frame(title: str, body: Any) -> Markup:
    """The whole page: header, navigation, body; styles and script from /koji/static/."""
    nav = join(link(href, label) for href, label in _NAV)
    return Markup(
        Markup("<!DOCTYPE html>\n")
        + tag(
            "html",
            tag(
                "head",
                Markup('<meta charset="utf-8">')
                + tag("title", f"{title} | Koji sandbox")
                + Markup('<link rel="stylesheet" href="static/koji.css">'),
            )
            + tag(
                "body",
                tag("header", tag("span", "Koji sandbox", class_="brand") + tag("nav", nav))
                + tag("main", tag("h1", title) + text(body))
                + Markup('<script src="static/koji.js"></script>'),
            ),
            lang="en",
        )
    )


CSS = """
body { font-family: sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #1d3b5a; color: #fff; padding: 0.6em 1.2em; }
header .brand { font-weight: bold; margin-right: 2em; }
header a { color: #dde8f3; margin-right: 1.2em; text-decoration: none; }
main { padding: 0.5em 1.2em 2em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
table.facts th { background: #eef2f6; white-space: nowrap; }
table.list th { background: #eef2f6; }
code.pullspec { user-select: all; background: #eef6ee; padding: 0.1em 0.3em; }
pre.log { background: #111; color: #ddd; padding: 0.6em; max-height: 30em; overflow: auto;
  white-space: pre-wrap; word-break: break-all; }
pre.json { margin: 0; }
.state { font-weight: bold; }
.state-closed, .state-complete { color: #17702a; }
.state-failed, .state-canceled, .state-deleted { color: #a11; }
.state-open, .state-free, .state-assigned, .state-building { color: #a66b00; }
p.failure { color: #a11; font-weight: bold; }
p.empty { color: #777; }
"""

#: The live tail: polls tasklogs (sizes and state) and getfile from the byte
#: offset shown so far; new text is appended as text nodes, never as markup.
JS = """
(function () {
  "use strict";
  var live = document.getElementById("live-logs");
  if (!live) { return; }
  var taskID = live.getAttribute("data-task-id");
  var shown = {};
  var decoders = {};
  function pane(name) {
    var pre = live.querySelector('pre[data-name="' + CSS.escape(name) + '"]');
    if (pre) { return pre; }
    var box = document.createElement("section");
    var head = document.createElement("h3");
    var a = document.createElement("a");
    a.href = live.getAttribute("data-file-base") + encodeURIComponent(name);
    a.textContent = name;
    head.appendChild(a);
    pre = document.createElement("pre");
    pre.className = "log";
    pre.setAttribute("data-name", name);
    pre.setAttribute("data-offset", "0");
    box.appendChild(head);
    box.appendChild(pre);
    live.appendChild(box);
    return pre;
  }
  live.querySelectorAll("pre.log").forEach(function (pre) {
    shown[pre.getAttribute("data-name")] = Number(pre.getAttribute("data-offset"));
  });
  function more(name) {
    var url = "getfile?taskID=" + encodeURIComponent(taskID) + "&name=" +
      encodeURIComponent(name) + "&offset=" + (shown[name] || 0);
    return fetch(url).then(function (r) { return r.arrayBuffer(); }).then(function (data) {
      if (!data.byteLength) { return; }
      shown[name] = (shown[name] || 0) + data.byteLength;
      decoders[name] = decoders[name] || new TextDecoder("utf-8");
      var pre = pane(name);
      var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(decoders[name].decode(data, {stream: true})));
      pre.setAttribute("data-offset", String(shown[name]));
      if (atEnd) { pre.scrollTop = pre.scrollHeight; }
    });
  }
  function poll() {
    fetch("tasklogs?taskID=" + encodeURIComponent(taskID))
      .then(function (r) { return r.json(); })
      .then(function (info) {
        var behind = Object.keys(info.logs).filter(function (name) {
          return info.logs[name] > (shown[name] || 0);
        });
        return Promise.all(behind.map(more)).then(function () { return info; });
      })
      .then(function (info) {
        var state = document.getElementById("task-state");
        if (state) {
          state.textContent = info.state;
          state.className = "state state-" + info.state.toLowerCase();
        }
        if (info.finished) {
          var note = document.getElementById("live-note");
          if (note) { note.textContent = "The task finished (" + info.state +
            "): reload the page for its result."; }
          return;
        }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
"""
