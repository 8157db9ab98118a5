"""The interpreter's GIL switch interval, shortened while task logs are uploaded.

The log uploader is a thread beside the one that reads the build's log
lines (logs/uploads.py); this keeps it from waiting long for the GIL.
"""

from __future__ import annotations

import sys
import threading

#: The interpreter's GIL switch interval while a log uploader runs. The uploader
#: thread gives up the GIL in every socket call of an upload and then waits for
#: it while the writer thread runs: CPython's 5 ms default made a burst's 1 MiB
#: calls to a hub on loopback take 4-5 ms instead of 2, and the writer then
#: waited for room in the queue (bench_logs' HTTP burst: about 51% of the
#: file-write baseline with 5 ms, 58% with 1 ms).
UPLOAD_SWITCH_INTERVAL = 0.001


class SwitchInterval:
    """Keeps the GIL switch interval at most ``interval`` while any uploader runs.

    Process-wide, so counted: the interval the process had is restored when
    the last running uploader closes.
    """

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._users = 0
        self._saved: float | None = None

    def enter(self) -> None:
        """An uploader starts: shorten the interval if it is longer."""
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                if self._saved > self.interval:
                    sys.setswitchinterval(self.interval)
            self._users += 1

    def leave(self) -> None:
        """An uploader stopped: the last one restores the process's interval."""
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                sys.setswitchinterval(self._saved)
                self._saved = None


#: The one the log uploaders share.
short_switch_interval = SwitchInterval(UPLOAD_SWITCH_INTERVAL)
