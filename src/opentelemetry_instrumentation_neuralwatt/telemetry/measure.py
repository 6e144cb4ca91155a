"""`measure()`: the energy, carbon and cost of a block of work, summed over its Neuralwatt calls.

    with measure() as usage:            # or `async with measure()`, or `@measure()` on a function
        summarise(document)
    usage.joules, usage.requests, usage.unmeasured, usage.carbon_g, usage.cost_usd

A call counts in every block open when it started (blocks nest), when it ends, even after the
block closed (a stream read later). Calls in asyncio tasks created inside, in `asyncio.to_thread`
and in threads the OpenTelemetry context is carried into count; see `blocks.py`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
from typing import Any

from ..wire.energy import Measurement
from . import blocks, steps


class measure:  # noqa: N801 - used like a function: `with measure()`, `@measure()`
    """The sums over the Neuralwatt calls started inside a block (or a decorated function's calls).

    `joules`, `carbon_g` and `cost_usd` add up what the server reported; `requests` counts calls
    that ended; `unmeasured` those among them that ended without an energy measurement (failed
    before it, `measurement_available: false`, a stream left before its `: energy` line).
    Thread-safe: one instance may be open in several threads and tasks at once, and inside itself
    (each call is counted once). On a generator function, each step of each generator counts,
    not what its consumer does between steps. See `blocks.py` for what misuse does.
    """

    def __init__(self) -> None:
        self.joules = 0.0
        self.carbon_g = 0.0
        self.cost_usd = 0.0
        self.requests = 0
        self.unmeasured = 0
        self._lock = threading.Lock()
        self._open: list = []  # its open `with` blocks (blocks.Block), in every thread and task

    def add(self, found: Measurement | None) -> None:
        """One call ended (called by the call itself; see `Invocation.end`)."""
        with self._lock:
            self.requests += 1
            if found is None or found.joules is None or found.measured is False:
                self.unmeasured += 1
            else:
                self.joules += found.joules
            if found is not None:
                self.carbon_g += found.carbon_g or 0.0
                self.cost_usd += found.cost_usd or 0.0

    # -- a block: the frame of its `with` statement tells which of its open blocks an exit closes --
    def __enter__(self) -> measure:
        self._enter(sys._getframe(1))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._exit(sys._getframe(1))

    async def __aenter__(self) -> measure:
        self._enter(sys._getframe(1))
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._exit(sys._getframe(1))

    def _enter(self, frame: Any) -> None:
        block = blocks.open(self, frame)
        with self._lock:
            self._open.append((frame, block))

    def _exit(self, frame: Any) -> None:
        with self._lock:
            for index in range(len(self._open) - 1, -1, -1):
                if self._open[index][0] is frame:
                    block = self._open.pop(index)[1]
                    break
            else:
                raise RuntimeError("measure(): a block exited that was not entered in this frame")
        blocks.close(block)

    # -- a decorator: each call of the function is a block of its own, adding to these sums --
    def __call__(self, function: Any) -> Any:
        if inspect.isgeneratorfunction(function):
            @functools.wraps(function)
            def measured_generator(*args, **kwargs):
                return (yield from steps.stepped(self, function(*args, **kwargs)))

            measured = measured_generator
        elif inspect.isasyncgenfunction(function):
            @functools.wraps(function)
            async def measured_async_generator(*args, **kwargs):
                async with contextlib.aclosing(steps.astepped(self, function(*args, **kwargs))) as each:
                    async for item in each:
                        yield item

            measured = measured_async_generator
        elif inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def measured_async(*args, **kwargs):
                block = blocks.open(self)
                try:
                    return await function(*args, **kwargs)
                finally:
                    blocks.close(block)

            measured = measured_async
        else:
            @functools.wraps(function)
            def measured_function(*args, **kwargs):
                block = blocks.open(self)
                try:
                    return function(*args, **kwargs)
                finally:
                    blocks.close(block)

            measured = measured_function
        measured.usage = self  # type: ignore[attr-defined]
        return measured

    def __repr__(self) -> str:
        return (f"measure(joules={self.joules!r}, requests={self.requests}, unmeasured={self.unmeasured}, "
                f"carbon_g={self.carbon_g!r}, cost_usd={self.cost_usd!r})")
