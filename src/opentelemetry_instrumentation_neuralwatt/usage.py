"""`measure()`: the energy, carbon and cost of a block of work, summed over its Neuralwatt calls.

    with measure() as usage:            # or `async with measure()`, or `@measure()` on a function
        summarise(document)
    usage.joules, usage.requests, usage.unmeasured, usage.carbon_g, usage.cost_usd

A call counts in every block open when it started (blocks nest), when it ends, even after the
block closed (a stream read later). Calls in asyncio tasks created inside, in `asyncio.to_thread`
and in threads the OpenTelemetry context is carried into count; see `collect.py`.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any

from . import collect
from .energy import Measurement


class measure:  # noqa: N801 - used like a function: `with measure()`, `@measure()`
    """The sums over the Neuralwatt calls started inside a block (or a decorated function's calls).

    `joules`, `carbon_g` and `cost_usd` add up what the server reported; `requests` counts calls
    that ended; `unmeasured` those among them that ended without an energy measurement (failed
    before it, `measurement_available: false`, a stream left before its `: energy` line).
    Thread-safe. A `with` block is entered once at a time; a decorated function may run
    concurrently, and every call of it adds to the same sums.
    """

    def __init__(self) -> None:
        self.joules = 0.0
        self.carbon_g = 0.0
        self.cost_usd = 0.0
        self.requests = 0
        self.unmeasured = 0
        self._lock = threading.Lock()
        self._token: Any = None

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

    # -- a block --
    def __enter__(self) -> measure:
        self._token = collect.enter(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        token, self._token = self._token, None
        collect.leave(token)

    async def __aenter__(self) -> measure:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    # -- a decorator: each call of the function is a block of its own, adding to these sums --
    def __call__(self, function: Any) -> Any:
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def measured_async(*args, **kwargs):
                token = collect.enter(self)
                try:
                    return await function(*args, **kwargs)
                finally:
                    collect.leave(token)

            measured_async.usage = self  # type: ignore[attr-defined]
            return measured_async

        @functools.wraps(function)
        def measured(*args, **kwargs):
            token = collect.enter(self)
            try:
                return function(*args, **kwargs)
            finally:
                collect.leave(token)

        measured.usage = self  # type: ignore[attr-defined]
        return measured

    def __repr__(self) -> str:
        return (f"measure(joules={self.joules!r}, requests={self.requests}, unmeasured={self.unmeasured}, "
                f"carbon_g={self.carbon_g!r}, cost_usd={self.cost_usd!r})")
