"""Koji's XML-RPC protocol over HTTP for the SandboxHub, on 127.0.0.1.

POST /kojihub carries XML-RPC calls (session in the Koji-Session-Id/Key/Callnum
headers, or in the query string as older clients send it) and the raw
uploads of ClientSession.fastUpload (query string names the file, the body is
the chunk). GET /kojifiles/<path> serves files under the hub's topdir, the
`topurl` that `koji download-task` reads from. /koji/... is the read-only web
view (web.py), the profile's `weburl`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import koji
import koji.xmlrpcplus as xmlrpcplus

from koji_containerbuild.sandbox.httpthread import serve_in_thread, stop_serving
from koji_containerbuild.sandbox.kojihub.api_base import fault_for
from koji_containerbuild.sandbox.kojihub.uploads import raw_upload
from koji_containerbuild.sandbox.kojiweb import web

logger = logging.getLogger("koji.plugin.containerbuild.sandbox.server")

#: largest request body accepted (fast upload chunks are 1 MiB by default)
MAX_REQUEST = 64 * 1024 * 1024
#: largest XML-RPC call: kojihub's MaxRequestLength default (raw uploads are not bound by it)
MAX_RPC_REQUEST = 4 * 1024 * 1024


def assert_rpc_size(size: int) -> None:
    """Refuse an XML-RPC call longer than kojihub accepts, with kojihub's fault."""
    if size > MAX_RPC_REQUEST:
        raise koji.GenericError("Request too long")


@dataclass
class ServerHandle:
    url: str
    topurl: str
    port: int
    server: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        stop_serving(self.server, self.thread)


class _KojiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "koji-sandbox-hub"
    # an answer leaves in one write, as Apache sends it: headers and body are
    # buffered and sent when the request is handled (handle_one_request
    # flushes), so the client wakes once per call, not once for each part
    wbufsize = 64 * 1024
    # no wait for the client's delayed ACK (40 ms a call on Linux) when a
    # large answer still leaves in more than one write
    disable_nagle_algorithm = True
    hub = None  # set on the subclass made by serve()

    def log_message(self, format, *args):
        logger.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------ POST: RPC and uploads

    def do_POST(self):
        if web.owns(self.path):
            self._web_page("POST", send_body=True)
            return
        path, _, query = self.path.partition("?")
        if path.rstrip("/") != "/kojihub":
            self._plain(404, b"Not Found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST:
            self._plain(413, b"Request Entity Too Large")
            return
        body = self.rfile.read(length)
        args = urllib.parse.parse_qs(query, keep_blank_values=True)
        try:
            handler = self._raw_upload if "filename" in args else self._rpc
            result = handler(args, body)
            response = xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        except Exception as exc:
            if not isinstance(exc, koji.GenericError):
                logger.exception("sandbox hub call failed")
            response = xmlrpcplus.dumps(fault_for(exc), methodresponse=1, allow_none=1)
        self._send(200, response.encode("utf-8"), "text/xml")

    def _session(self, args):
        session_id = self.headers.get("Koji-Session-Id")
        key = self.headers.get("Koji-Session-Key")
        callnum = self.headers.get("Koji-Session-Callnum")
        if session_id is None and "session-id" in args:
            session_id = args["session-id"][0]
            key = args.get("session-key", [None])[0]
            callnum = args.get("callnum", [None])[0]
        if session_id is None:
            return None
        return self.hub.session_from_credentials(session_id, key, callnum)

    def _rpc(self, args, body: bytes):
        assert_rpc_size(len(body))
        params, method = xmlrpcplus.loads(body)
        params, opts = koji.decode_args(*params)
        return self.hub.dispatch(method, params, opts, self._session(args))

    def _raw_upload(self, args, body: bytes):
        def first(name, default=None):
            return args.get(name, [default])[0]

        kwargs = {
            "verify": first("fileverify", ""),
            "overwrite": bool(first("overwrite", "")),
            "volume": first("volume"),
        }
        params = (body, first("offset", "0"), first("filepath", ""), first("filename"))
        return self.hub.dispatch_raw(raw_upload, params, kwargs, self._session(args))

    # ------------------------------------------------------------ GET: files under topdir

    def do_GET(self):
        if web.owns(self.path):
            self._web_page("GET", send_body=True)
            return
        self._serve_file(send_body=True)

    def do_HEAD(self):
        if web.owns(self.path):
            self._web_page("HEAD", send_body=False)
            return
        self._serve_file(send_body=False)

    def _web_page(self, method: str, send_body: bool):
        answer = web.respond(self.hub, method, self.path)
        if method == "POST":
            # refused unread: drain what fits, then close the connection
            self.rfile.read(min(int(self.headers.get("Content-Length") or 0), MAX_REQUEST))
            self.close_connection = True
        self._send(answer.status, answer.body, answer.content_type, send_body, answer.headers)

    def _serve_file(self, send_body: bool):
        path = urllib.parse.unquote(self.path.partition("?")[0])
        if path.rstrip("/") == "/kojihub":
            self._plain(405, b"Method Not Allowed", send_body)
            return
        prefix = "/kojifiles/"
        if not path.startswith(prefix):
            self._plain(404, b"Not Found", send_body)
            return
        topdir = os.path.realpath(self.hub.topdir)
        local = os.path.realpath(os.path.join(topdir, path[len(prefix) :]))
        if not local.startswith(topdir + os.sep) or not os.path.isfile(local):
            self._plain(404, b"Not Found", send_body)
            return
        if os.path.basename(local) in (".user",) or local.startswith(
            os.path.join(topdir, "db.sqlite")
        ):
            self._plain(403, b"Forbidden", send_body)
            return
        size = os.path.getsize(local)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if send_body:
            with open(local, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

    # ------------------------------------------------------------ helpers

    def _send(
        self, code: int, data: bytes, content_type: str, send_body: bool = True, headers=None
    ):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Koji-Version", koji.__version__)
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def _plain(self, code: int, text: bytes, send_body: bool = True):
        self._send(code, text, "text/plain", send_body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(hub, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Serve `hub` in a background thread; stop() the handle when done."""
    handler = type("SandboxKojiHandler", (_KojiHandler,), {"hub": hub})
    server = _Server((host, port), handler)
    real_port = server.server_address[1]
    thread = serve_in_thread(server, f"sandbox-hub-{real_port}")
    base = f"http://{host}:{real_port}"
    return ServerHandle(
        url=f"{base}/kojihub",
        topurl=f"{base}/kojifiles",
        port=real_port,
        server=server,
        thread=thread,
    )
