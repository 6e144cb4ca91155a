"""dspy's lm15 streams: the call starts as lm15 sends the request, each event is read as it passes
(content timed and counted, an end event's data chunk read by the API's adapter), and the `: energy`
comments lm15's SSE parser drops are kept from the transport's lines as they pass.

Sync and async twins (`_events`/`_aevents`, `_comments`/`_acomments`): loops that await cannot be the
loops that do not; per item they share `_observe` and `_keep`."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

from ..call import deferred
from ..call.begin import state
from ..call.invocation import pending
from ..wire import sse
from .adapter import keep_text
from .dspy_requests import begin_request

logger = logging.getLogger(__name__)


def stream(wrapped, provider, args, kwargs):
    events = wrapped(*args, **kwargs)
    if state.telemetry is None:
        return events
    request = args[1] if len(args) > 1 else kwargs.get("req")
    return (_aevents if hasattr(events, "__anext__") else _events)(provider, request, events)


# The call starts as lm15 sends the request (the stream's first step) and is pending up to the
# first event, so that `_lines` finds it as lm15 opens the response. The stream is closed as lm15
# closes what it iterates: its connection goes back to the pool at once.
def _events(provider: Any, request: Any, events: Any):
    call = begin_request(provider, request)
    if call is None:
        return (yield from events)
    token: Any = pending.set(call)
    try:
        for event in events:
            if token is not None:
                pending.reset(token)
                token = None
            _observe(call, event)
            yield event
    except GeneratorExit:  # closed early, or collected: ended off this thread (see deferred.py)
        deferred.later(call.finish)
        raise
    except BaseException as error:
        call.finish(error)
        raise
    finally:
        if token is not None:
            pending.reset(token)
        events.close()
    call.finish()


async def _aevents(provider: Any, request: Any, events: Any):
    call = begin_request(provider, request)
    token: Any = pending.set(call) if call is not None else None
    try:
        async for event in events:
            if token is not None:
                pending.reset(token)
                token = None
            if call is not None:
                _observe(call, event)
            yield event
    except BaseException as error:  # `aclose()` too: the call ends with what came
        if call is not None:
            call.finish(None if isinstance(error, GeneratorExit) else error)
        raise
    finally:
        if token is not None:
            pending.reset(token)
        await events.aclose()
    if call is not None:
        call.finish()


def _observe(call: Any, event: Any) -> None:
    """An lm15 stream event: content deltas are timed and counted; an end event's `provider_data` is
    the data chunk it came from (ids, finish reason, usage, a data chunk's energy)."""
    try:
        if event.type == "delta":
            if call.first_chunk_at is not None:
                call.output_chunks += 1
            elif event.delta.type in ("text", "tool_call"):
                call.first_chunk_at = time.perf_counter()
            if call.output_text is not None and event.delta.type == "text":
                keep_text(call, 0, event.delta.text)
        elif event.type == "end" and isinstance(event.provider_data, dict):
            call.adapter.observe(call, event.provider_data)
        elif event.type == "start" and call.response_id is None:  # the Messages API's message_start
            call.response_id, call.response_model = event.id, event.model
    except Exception:
        logger.debug("neuralwatt: could not read a dspy stream event", exc_info=True)


def lines(wrapped, response, args, kwargs):
    lines = wrapped(*args, **kwargs)
    call: Any = pending.get()
    if call is None or call.decoder is not None:
        return lines
    try:
        call.headers = dict(response.headers)
        call.decoder = kept = SimpleNamespace()  # where `sse.remember_comment` keeps the comments
        return _acomments(kept, lines) if hasattr(lines, "__anext__") else _comments(kept, lines)
    except Exception:
        logger.debug("neuralwatt: could not read a dspy stream's lines", exc_info=True)
        return lines


def _comments(kept: Any, lines: Any):
    for line in lines:
        if line[:1] == b":":  # one slice and compare per line, as `sse.decode_hook` does
            _keep(kept, line)
        yield line


async def _acomments(kept: Any, lines: Any):
    async for line in lines:
        if line[:1] == b":":
            _keep(kept, line)
        yield line


def _keep(kept: Any, line: bytes) -> None:
    try:
        sse.remember_comment(kept, line.decode("utf-8", "replace").rstrip("\r\n"))
    except Exception:  # never let capture break parsing
        logger.debug("neuralwatt: SSE capture failed", exc_info=True)
