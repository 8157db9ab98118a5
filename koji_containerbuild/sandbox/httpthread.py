"""The sandbox's loopback HTTP servers, each served by a thread that stops at once."""

from __future__ import annotations

import socketserver
import threading

#: Seconds between serve_forever's looks at a stop request. socketserver's
#: default (0.5 s) is what each stop() waits at worst, and the tests stop a
#: server hundreds of times; a look costs one select() timeout.
STOP_POLL_INTERVAL = 0.02


def serve_in_thread(server: socketserver.BaseServer, name: str) -> threading.Thread:
    """Start serving ``server`` in a daemon thread; stop it with :func:`stop_serving`."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": STOP_POLL_INTERVAL},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer, thread: threading.Thread) -> None:
    """Stop the thread's loop, close the listening socket and wait for the thread."""
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
