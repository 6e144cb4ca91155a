"""Work a finalizer hands off instead of doing it.

A stream collected by the garbage collector still has a call to end, but `__del__` may run at
any moment, on any thread, inside code that holds a lock (the SDK's own metric record, for
one): ending the call there could wait on that lock forever. So a finalizer only puts the
call's end on a queue (`SimpleQueue.put` is safe there: it takes no lock a caller can hold), and
one daemon thread, started by `instrument()`, does the work.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_thread: threading.Thread | None = None


def start() -> None:
    """Start the worker (from `instrument()`, never from a finalizer)."""
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, name="neuralwatt-finalizers", daemon=True)
        _thread.start()


def later(work: Callable[[], None]) -> None:
    """Safe inside `__del__`: queue the work for the worker thread."""
    _work.put(work)


def drain(timeout: float = 5.0) -> bool:
    """Wait until everything queued so far is done (tests, interpreter exit)."""
    if _thread is None or not _thread.is_alive():
        return False
    done = threading.Event()
    _work.put(done.set)
    return done.wait(timeout)


def _run() -> None:
    while True:
        work = _work.get()
        try:
            work()
        except Exception:
            logger.debug("neuralwatt: deferred work failed", exc_info=True)


atexit.register(drain, 1.0)
