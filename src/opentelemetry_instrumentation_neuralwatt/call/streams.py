"""The proxies that hand a stream to the user and end its call exactly once.

A stream ends when it is exhausted, fails, is closed (directly, by a `with` block, or by
`with_streaming_response`), or is garbage collected; its energy is read from the stream's own
decoder (see `sse.py`). Each chunk or event goes to the call's adapter to read.
"""

from __future__ import annotations

from .invocation import pending
from .proxy import CallProxy
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


class StreamProxy(CallProxy):
    """A `Stream` that ends its request's span exactly once, however the stream ends."""

    def __iter__(self):
        # A generator over the SDK's own iteration: the cheapest per-chunk path. Its
        # GeneratorExit (the consumer dropped this iterator: `break`, `next(iter(s))`) does not
        # end the span, because the stream itself lives on and can still be read.
        call, stream = self._self_call, self.__wrapped__
        is_last = call.adapter.is_last if reads_ahead(call) else None
        if call.hops is not None:
            stream = pulled_as_call(call, stream)
        routine = counted_event(call)
        counting = False  # content has begun, and its pieces are only counted
        try:
            for chunk in stream:
                if counting and getattr(chunk, "type", None) == routine:
                    call.output_chunks += 1  # a content piece: counted, nothing to read
                else:
                    observe(call, chunk)
                    counting = routine is not None and call.first_chunk_at is not None
                    if is_last is not None and is_last(chunk):  # (a content piece never is)
                        rest = read_ahead(call, stream)
                        yield chunk
                        yield from rest
                        return
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            call.finish(error)
            raise
        finish_stream(call)

    def __next__(self):
        token = pending.set(self._self_call) if self._self_call.hops is not None else None
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            finish_stream(self._self_call)
            raise
        except BaseException as error:
            self._self_call.finish(error)
            raise
        finally:
            if token is not None:
                pending.reset(token)
        observe(self._self_call, chunk)
        return chunk

    def __enter__(self):
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            finish_stream(self._self_call)

    def close(self):
        try:
            return self.__wrapped__.close()
        finally:
            finish_stream(self._self_call)



class AsyncStreamProxy(CallProxy):
    """An `AsyncStream` that ends its request's span exactly once, however the stream ends. Its
    methods are `StreamProxy`'s, awaiting where the SDK's do: a body that both calls and awaits
    cannot be written once, and the loop stays inline (a shared per-chunk function would add a
    call to every chunk of every stream)."""

    async def __aiter__(self):
        call, stream = self._self_call, self.__wrapped__
        is_last = call.adapter.is_last if reads_ahead(call) else None
        if call.hops is not None:
            stream = apulled_as_call(call, stream)
        routine = counted_event(call)
        counting = False  # as in StreamProxy.__iter__
        try:
            async for chunk in stream:
                if counting and getattr(chunk, "type", None) == routine:
                    call.output_chunks += 1
                else:
                    observe(call, chunk)
                    counting = routine is not None and call.first_chunk_at is not None
                    if is_last is not None and is_last(chunk):
                        for item in [chunk, *await aread_ahead(call, stream)]:
                            yield item
                        return
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            call.finish(error)
            raise
        finish_stream(call)

    async def __anext__(self):
        token = pending.set(self._self_call) if self._self_call.hops is not None else None
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            finish_stream(self._self_call)
            raise
        except BaseException as error:
            self._self_call.finish(error)
            raise
        finally:
            if token is not None:
                pending.reset(token)
        observe(self._self_call, chunk)
        return chunk

    async def __aenter__(self):
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            finish_stream(self._self_call)

    async def close(self):
        try:
            return await self.__wrapped__.close()
        finally:
            finish_stream(self._self_call)

    async def aclose(self):
        finish_stream(self._self_call)  # nothing more will be read: end the call first
        return await self.__wrapped__.aclose()

