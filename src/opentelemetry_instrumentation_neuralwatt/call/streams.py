"""The proxies that hand a stream to the user and end its call exactly once.

A stream ends when it is exhausted, fails, is closed (directly, by a `with` block, or by
`with_streaming_response`), or is garbage collected; its energy is read from the stream's own
decoder (see `sse.py`). Each chunk or event goes to the call's adapter to read.
"""

from __future__ import annotations

import wrapt

from . import deferred
from .copies import Copyable
from .invocation import Invocation, pending
from .stream_items import (
    apulled_as_call,
    aread_ahead,
    counted_event,
    finish_stream,
    observe,
    pulled_as_call,
    read_ahead,
    reads_ahead,
)

__all__ = ["AsyncStreamProxy", "StreamProxy", "finish_stream", "observe"]


class StreamProxy(Copyable, wrapt.ObjectProxy):
    """A `Stream` that ends its request's span exactly once, however the stream ends."""

    def __init__(self, stream, invocation: Invocation):
        super().__init__(stream)
        self._self_invocation = invocation
        self._self_handles = [1]

    def __iter__(self):
        # A generator over the SDK's own iteration: the cheapest per-chunk path. Its
        # GeneratorExit (the consumer dropped this iterator: `break`, `next(iter(s))`) does not
        # end the span, because the stream itself lives on and can still be read.
        invocation, stream = self._self_invocation, self.__wrapped__
        is_last = invocation.adapter.is_last if reads_ahead(invocation) else None
        if invocation.hops is not None:
            stream = pulled_as_call(invocation, stream)
        routine = counted_event(invocation)
        counting = False  # content has begun, and its pieces are only counted
        try:
            for chunk in stream:
                if counting and getattr(chunk, "type", None) == routine:
                    invocation.output_chunks += 1  # a content piece: counted, nothing to read
                else:
                    observe(invocation, chunk)
                    counting = routine is not None and invocation.first_chunk_at is not None
                    if is_last is not None and is_last(chunk):  # (a content piece never is)
                        rest = read_ahead(invocation, stream)
                        yield chunk
                        yield from rest
                        return
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            invocation.finish(error)
            raise
        finish_stream(invocation)

    def __next__(self):
        token = pending.set(self._self_invocation) if self._self_invocation.hops is not None else None
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            finish_stream(self._self_invocation)
            raise
        except BaseException as error:
            self._self_invocation.finish(error)
            raise
        finally:
            if token is not None:
                pending.reset(token)
        observe(self._self_invocation, chunk)
        return chunk

    def __enter__(self):
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            finish_stream(self._self_invocation)

    def close(self):
        try:
            return self.__wrapped__.close()
        finally:
            finish_stream(self._self_invocation)

    def __del__(self):  # collected: end the call, but not here (see deferred.py)
        if self._self_last_handle() and not self._self_invocation.ended:
            deferred.later(self._self_invocation.finish)


class AsyncStreamProxy(Copyable, wrapt.ObjectProxy):
    """An `AsyncStream` that ends its request's span exactly once, however the stream ends."""

    def __init__(self, stream, invocation: Invocation):
        super().__init__(stream)
        self._self_invocation = invocation
        self._self_handles = [1]

    async def __aiter__(self):
        invocation, stream = self._self_invocation, self.__wrapped__
        is_last = invocation.adapter.is_last if reads_ahead(invocation) else None
        if invocation.hops is not None:
            stream = apulled_as_call(invocation, stream)
        routine = counted_event(invocation)
        counting = False  # as in StreamProxy.__iter__
        try:
            async for chunk in stream:
                if counting and getattr(chunk, "type", None) == routine:
                    invocation.output_chunks += 1
                else:
                    observe(invocation, chunk)
                    counting = routine is not None and invocation.first_chunk_at is not None
                    if is_last is not None and is_last(chunk):
                        for item in [chunk, *await aread_ahead(invocation, stream)]:
                            yield item
                        return
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            invocation.finish(error)
            raise
        finish_stream(invocation)

    async def __anext__(self):
        token = pending.set(self._self_invocation) if self._self_invocation.hops is not None else None
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            finish_stream(self._self_invocation)
            raise
        except BaseException as error:
            self._self_invocation.finish(error)
            raise
        finally:
            if token is not None:
                pending.reset(token)
        observe(self._self_invocation, chunk)
        return chunk

    async def __aenter__(self):
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            finish_stream(self._self_invocation)

    async def close(self):
        try:
            return await self.__wrapped__.close()
        finally:
            finish_stream(self._self_invocation)

    async def aclose(self):
        finish_stream(self._self_invocation)  # nothing more will be read: end the call first
        return await self.__wrapped__.aclose()

    def __del__(self):  # collected: end the call, but not here (see deferred.py)
        if self._self_last_handle() and not self._self_invocation.ended:
            deferred.later(self._self_invocation.finish)
