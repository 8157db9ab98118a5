"""Threads of a task process leave the process's signals to its main thread.

The kernel hands a signal sent to the process to any thread that does not
block it. Taken by a helper thread, kojid's SIGINT would not interrupt the
main thread's blocking wait (a quiet build's log read), where the task's
handlers run, and the task would not see it until that wait ended by itself.
"""

from __future__ import annotations

import signal

#: Signals a fault in the thread itself raises: blocking them would hide the fault.
_FAULT_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT, signal.SIGTRAP}
)


def block_async_signals() -> None:
    """Called first in a helper thread: block every signal but the fault signals."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - _FAULT_SIGNALS)
