"""Reading on, bounded, after a body's reader stopped: the energy comes right after the last
event, so a stream helper that raised on an event (stream_helpers.py) and a middleware that
stopped reading a refused request (hops.py) have the rest of the body read for it first.

Never longer than SECONDS: a synchronous read runs in a daemon thread that is waited for that
long (it goes on alone, if the server stalls, until the connection ends); an asynchronous one is
cancelled then. `take` gets each item and says whether to go on (its own bound: items or bytes);
`done` runs when the body ended within the bounds.

Sync and async twins (`read_rest`/`aread_rest`): they cannot share a body, since the bound is kept by
different means (a thread waited for, a coroutine cancelled); `take` and `done` are shared.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

SECONDS = 0.25


def read_rest(items: Any, take: Callable[[Any], bool], done: Callable[[], None] | None = None) -> None:
    def run() -> None:
        try:
            for item in items:
                if not take(item):
                    return
            if done is not None:
                done()
        except Exception:
            logger.debug("neuralwatt: could not read the rest of a body", exc_info=True)

    try:
        reader = threading.Thread(target=run, name="neuralwatt-rest", daemon=True)
        reader.start()
        reader.join(SECONDS)
    except Exception:
        logger.debug("neuralwatt: could not read the rest of a body", exc_info=True)


async def aread_rest(items: Any, take: Callable[[Any], bool], done: Callable[[], None] | None = None) -> None:
    async def run() -> None:
        async for item in items:
            if not take(item):
                return
        if done is not None:
            done()

    try:
        await asyncio.wait_for(run(), SECONDS)
    except Exception:  # the bound passed, or the rest failed: what arrived so far is kept
        logger.debug("neuralwatt: could not read the rest of a body", exc_info=True)
