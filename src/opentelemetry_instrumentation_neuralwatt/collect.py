"""Hand each request's measurement to code that asked for it, such as the `llm` plugin.

A collector is a list made current in a context; every request *started* in that context
appends its measurement to that list when it ends, wherever that happens. It is bound when the
request starts, so concurrent requests in other threads or tasks never reach it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .energy import Measurement

current: ContextVar[list[Measurement] | None] = ContextVar("neuralwatt_collector", default=None)


@contextmanager
def collecting() -> Iterator[list[Measurement]]:
    """Collect the measurements of the requests started inside this block."""
    collected: list[Measurement] = []
    token = current.set(collected)
    try:
        yield collected
    finally:
        current.reset(token)
