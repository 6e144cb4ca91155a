"""What a stream proxy does with the items it hands on: each chunk or event to the call's adapter
(content events only counted, see `Adapter.content_event`), the rest of the body read ahead for an
owner that ends its span at the last event, and the call made current while a client middleware's
stream is pulled (see hops.py).

Sync and async twins (`read_ahead`/`aread_ahead`, `pulled_as_call`/`apulled_as_call`): the same steps, the
async one awaiting each item; what they do with an item is shared (`observe`, `finish_stream`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..telemetry import foreign
from .invocation import Invocation, pending

logger = logging.getLogger(__name__)


def finish_stream(call: Invocation) -> None:
    """End a stream's call with whatever its decoder (or a data chunk) carried."""
    call.finish()


def observe(call: Invocation, chunk: Any) -> None:
    """One chunk or event of a stream: what it says, and when content began to arrive
    (heartbeats and status frames before it are not content)."""
    try:
        call.adapter.observe(call, chunk)
        if call.first_chunk_at is not None:
            call.output_chunks += 1
        elif call.adapter.is_content(chunk):
            call.first_chunk_at = time.perf_counter()
    except Exception:
        logger.debug("neuralwatt: could not read a chunk", exc_info=True)


def counted_event(call: Invocation) -> str | None:
    """The stream event type that is only counted (see `Adapter.content_event`), or None."""
    return call.adapter.content_event if call.output_text is None else None


def reads_ahead(call: Invocation) -> bool:
    """Whether this stream's owner ends its span at the stream's last event (util-genai's Responses
    wrapper does, at `response.completed`), before the trailing `: energy` comment is read."""
    return call.adopted == foreign.GENAI and call.adapter.has_last_event


def read_ahead(call: Invocation, stream: Any) -> list:
    """After the last event, read the rest of the body (only comments are left: the energy) and end
    the call, before that event is handed on. Bounded: the server closes the body right after."""
    rest: list = []
    try:
        for chunk in stream:
            observe(call, chunk)
            rest.append(chunk)
    except BaseException as error:
        call.finish(error)
        raise
    finish_stream(call)
    return rest


async def aread_ahead(call: Invocation, stream: Any) -> list:
    rest: list = []
    try:
        async for chunk in stream:
            observe(call, chunk)
            rest.append(chunk)
    except BaseException as error:
        call.finish(error)
        raise
    finish_stream(call)
    return rest


def pulled_as_call(call: Invocation, stream: Any):
    """A stream a client middleware makes (see hops.py): the call is current while each item is
    pulled, as the middleware may send its next request then."""
    iterator = iter(stream)
    while True:
        token = pending.set(call)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            pending.reset(token)
        yield chunk


async def apulled_as_call(call: Invocation, stream: Any):
    iterator = stream.__aiter__()
    while True:
        token = pending.set(call)
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        finally:
            pending.reset(token)
        yield chunk
