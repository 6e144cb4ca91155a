"""Hand each call's measurement to the blocks of code that asked for it: `measure()` and the `llm`
plugin's collector.

A block is a sink made current in the OpenTelemetry context, so it is seen wherever that context
goes: asyncio tasks created inside, `asyncio.to_thread`, and threads the context is carried into
(as the threading instrumentation does). Blocks nest. A call binds the blocks current when it
*starts*, and reports to each of them when it ends, wherever and whenever that happens (a stream
read after the block closed still counts); calls started elsewhere never reach them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context

from .energy import Measurement

_BLOCKS = context.create_key("neuralwatt-blocks")


def current(within: Any = None) -> tuple:
    """The blocks open in this context (or in `within`, a context already read), outermost first."""
    blocks = context.get_value(_BLOCKS) if within is None else within.get(_BLOCKS)
    return blocks if isinstance(blocks, tuple) else ()


def enter(sink: Any) -> object:
    """Open a block (a sink with `add(measurement or None)`); returns the token for `leave`."""
    return context.attach(context.set_value(_BLOCKS, (*current(), sink)))


def leave(token: Any) -> None:
    context.detach(token)


class Collected(list):
    """The measurements of the calls of a block, in the order they ended (the llm plugin's)."""

    def add(self, found: Measurement | None) -> None:
        if found is not None:
            self.append(found)


@contextmanager
def collecting() -> Iterator[Collected]:
    """Collect the measurements of the calls started inside this block."""
    collected = Collected()
    token = enter(collected)
    try:
        yield collected
    finally:
        leave(token)
