"""Work a finalizer hands off instead of doing it.

A stream collected by the garbage collector still has a call to end, but `__del__` may run at
any moment, on any thread, inside code that holds a lock (the SDK's own metric record, for
one): ending the call there could wait on that lock forever. So a finalizer only puts the
call's end on a queue (`SimpleQueue.put` is safe there: it takes no lock a caller can hold), and
one daemon thread, started by `instrument()` and stopped by `uninstrument()`, does the work.

A process forked after `instrument()` (gunicorn --preload, celery prefork, multiprocessing's fork)
has no such thread: threads do not survive a fork. The child gets an empty queue (what the parent
had queued is the parent's to do) and a worker of its own when its first call starts (`ensure`),
not at the fork: a child that only runs `exec` (a subprocess), or forks again at once (gevent's
probes), never starts a thread of ours.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_wanted = False  # instrument() asked for a worker; uninstrument() no longer does


_STOP = object()


def start() -> None:
    """Start the worker (from `instrument()`, never from a finalizer)."""
    global _wanted
    _wanted = True
    _start()


def ensure() -> None:
    """Start the worker if it is wanted and not running (a call starting in a forked child)."""
    if _thread is None and _wanted:
        _start()


def _start() -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, args=(_work,), name="neuralwatt-finalizers", daemon=True)
        _thread.start()


def stop(timeout: float = 5.0) -> None:
    """Do what is queued, then stop the worker (from `uninstrument()`). Work queued after this
    waits for the next `start()`."""
    global _thread, _wanted
    _wanted = False
    thread, _thread = _thread, None
    if thread is not None and thread.is_alive():
        _work.put(_STOP)  # type: ignore[arg-type]
        thread.join(timeout)


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


def _run(work_queue: queue.SimpleQueue) -> None:
    while True:
        work = work_queue.get()
        if work is _STOP:
            return
        try:
            work()
        except Exception:
            logger.debug("neuralwatt: deferred work failed", exc_info=True)
        del work  # hold nothing of the last call while waiting for the next


def _after_fork_in_child() -> None:
    global _work, _thread
    _work, _thread = queue.SimpleQueue(), None  # `ensure` starts one when a call needs it


atexit.register(drain, 1.0)
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
