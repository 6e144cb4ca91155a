"""The SDKs' stream helpers (`chat.completions.stream()`, `responses.stream()`, anthropic's
`messages.stream()`): they iterate our stream proxy themselves, so how they end is seen here.

A helper's `close()` closes the HTTP response directly, not the stream inside: its call ends there
too. A helper that raises on an event (a structured answer that does not validate) raises in its
own generator, past our proxy: its call ends there, ERROR with `error.type`. The server sends the
energy right after the last event, so the rest of the body is read first, bounded: at most
TRAILER_SECONDS and TRAILER_EVENTS events (a synchronous read runs in a thread that is not waited
for longer), then the user's exception goes on unchanged, with whatever energy arrived by then.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from .invocation import Invocation
from .streams import finish_stream, observe

logger = logging.getLogger(__name__)

# A helper that raises on an event: how long, and how many events, the rest of its body is read
# before the exception goes on to the user (the energy comes right after the last event).
TRAILER_SECONDS = 0.25
TRAILER_EVENTS = 64


def _call_of(helper: Any) -> Invocation | None:
    call = getattr(getattr(helper, "_raw_stream", None), "_self_invocation", None)
    return call if isinstance(call, Invocation) else None


def helper_closed(wrapped, instance, args, kwargs):
    """On the SDK's stream helpers' `close()` (`chat.completions.stream()`, `responses.stream()`),
    which close the HTTP response directly, not the stream inside: end that stream's call too."""
    try:
        return wrapped(*args, **kwargs)
    finally:
        _helper_stream_ended(instance)


async def async_helper_closed(wrapped, instance, args, kwargs):
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _helper_stream_ended(instance)


def _helper_stream_ended(helper: Any) -> None:
    call = _call_of(helper)
    if call is not None:
        finish_stream(call)


def helper_events(wrapped, instance, args, kwargs):
    """On a helper's `__stream__` (its events, made from our proxy's chunks)."""
    return _events(instance, wrapped(*args, **kwargs))


def async_helper_events(wrapped, instance, args, kwargs):
    return _aevents(instance, wrapped(*args, **kwargs))


def _events(helper: Any, events: Any):
    try:
        yield from events
    except GeneratorExit:
        raise
    except BaseException as error:
        _failed(helper, error)
        raise


async def _aevents(helper: Any, events: Any):
    try:
        async for event in events:
            yield event
    except GeneratorExit:
        raise
    except BaseException as error:
        await _afailed(helper, error)
        raise


def _failed(helper: Any, error: BaseException) -> None:
    call = _call_of(helper)
    if call is None or call.ended:
        return
    if isinstance(error, Exception):  # not an interrupt: the rest of the body may hold the energy
        call.failing = error
        try:
            reader = threading.Thread(target=_read_rest, args=(call, helper._raw_stream.__wrapped__),
                                      name="neuralwatt-trailer", daemon=True)
            reader.start()
            reader.join(TRAILER_SECONDS)  # given up on after that: what arrived is kept already
        except Exception:
            logger.debug("neuralwatt: could not read the rest of a failed stream", exc_info=True)
    call.finish(error)


async def _afailed(helper: Any, error: BaseException) -> None:
    call = _call_of(helper)
    if call is None or call.ended:
        return
    try:
        if isinstance(error, Exception):
            call.failing = error
            await asyncio.wait_for(_aread_rest(call, helper._raw_stream.__wrapped__), TRAILER_SECONDS)
    except Exception:  # the bound passed, or the rest failed: what arrived so far is kept
        logger.debug("neuralwatt: could not read the rest of a failed stream", exc_info=True)
    finally:
        call.finish(error)


def _read_rest(call: Invocation, stream: Any) -> None:
    """The events after the one the helper raised on (a usage chunk, `[DONE]`), whose decoding
    keeps the trailing comments; at most TRAILER_EVENTS of them."""
    try:
        for count, chunk in enumerate(stream, 1):
            observe(call, chunk)
            if count >= TRAILER_EVENTS:
                return
    except Exception:
        logger.debug("neuralwatt: the rest of a failed stream failed too", exc_info=True)


async def _aread_rest(call: Invocation, stream: Any) -> None:
    count = 0
    async for chunk in stream:
        observe(call, chunk)
        count += 1
        if count >= TRAILER_EVENTS:
            return
