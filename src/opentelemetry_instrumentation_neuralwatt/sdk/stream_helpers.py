"""The SDKs' stream helpers (`chat.completions.stream()`, `responses.stream()`, anthropic's
`messages.stream()`): they iterate our stream proxy themselves, so how they end is seen here.

A helper's `close()` closes the HTTP response directly, not the stream inside: its call ends there
too. A helper that raises on an event (a structured answer that does not validate) raises in its
own generator, past our proxy: its call ends there, ERROR with `error.type`. The server sends the
energy right after the last event, so the rest of the body is read first, bounded (`rest.py`: at
most 0.25 s, and TRAILER_EVENTS events), then the user's exception goes on unchanged, with
whatever energy arrived by then.

Sync and async twins (each `x`/`async_x` and `_x`/`_ax` pair): the async one awaits the SDK where
the sync one calls it; what they decide is shared (`_call_of`, `_helper_stream_ended`, `_observer`).
"""

from __future__ import annotations

from typing import Any

from ..call import rest
from ..call.invocation import Invocation
from ..call.stream_items import finish_stream, observe

# A helper that raises on an event: how many events of the rest of its body are read (for at most
# rest.SECONDS) before the exception goes on to the user.
TRAILER_EVENTS = 64


def _call_of(helper: Any) -> Invocation | None:
    call = getattr(getattr(helper, "_raw_stream", None), "_self_call", None)
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
        rest.read_rest(helper._raw_stream.__wrapped__, _observer(call))
    call.finish(error)


async def _afailed(helper: Any, error: BaseException) -> None:
    call = _call_of(helper)
    if call is None or call.ended:
        return
    try:
        if isinstance(error, Exception):
            call.failing = error
            await rest.aread_rest(helper._raw_stream.__wrapped__, _observer(call))
    finally:
        call.finish(error)


def _observer(call: Invocation):
    """Each event after the one the helper raised on (a usage chunk, `[DONE]`), at most
    TRAILER_EVENTS of them; their bytes carry the trailing comments."""
    read = [0]

    def take(chunk: Any) -> bool:
        observe(call, chunk)
        read[0] += 1
        return read[0] < TRAILER_EVENTS

    return take
