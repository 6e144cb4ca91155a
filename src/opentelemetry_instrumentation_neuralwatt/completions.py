"""Wrappers for the `create` calls and the proxies that end a request's span exactly once.

A non-streaming call ends when the SDK returns. A stream ends when it is exhausted, fails,
is closed (directly, by a `with` block, or by `with_streaming_response`), or is garbage
collected; its energy is read from the stream's own decoder (see `sse.py`). Every piece of our
code runs under a guard: a failure is logged at debug level and the user's call goes on as if
we were not there.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Optional

import wrapt
from openai import AsyncStream, Stream
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import sse
from .endpoints import Endpoints
from .energy import measurement
from .telemetry import Invocation, Telemetry

logger = logging.getLogger(__name__)

try:  # the raw-response classes moved between SDK releases; both are optional here
    from openai._legacy_response import LegacyAPIResponse
except ImportError:  # pragma: no cover
    LegacyAPIResponse = ()
try:
    from openai._response import APIResponse, AsyncAPIResponse

    _STREAMING_RESPONSES = (APIResponse, AsyncAPIResponse)
except ImportError:  # pragma: no cover
    _STREAMING_RESPONSES = ()


class _State:
    """What `instrument()` set up; `telemetry` is None while uninstrumented, which turns every
    surviving wrapper (the SDK caches bound methods) into a plain pass-through."""

    telemetry: Optional[Telemetry] = None
    endpoints: Endpoints = Endpoints()
    # id(base URL object) -> (that object, host, port, is Neuralwatt); reset by instrument()
    addresses: dict = {}


state = _State()


def _address(client: Any):
    """The client's host, port and whether it is Neuralwatt, computed once per base URL."""
    # `_base_url` is what the `base_url` property returns; openai 3 builds that property with a
    # function-level import that costs more than the rest of this function.
    url = getattr(client, "_base_url", None) or client.base_url
    cached = state.addresses.get(id(url))
    if cached is None or cached[0] is not url:
        cached = (url, url.host, url.port, state.endpoints.matches(url.host, url.port))
        if len(state.addresses) > 1024:  # clients come and go: stay bounded
            state.addresses.clear()
        state.addresses[id(url)] = cached
    return cached[1:]


def _begin(operation: str, resource: Any, kwargs: dict) -> Optional[Invocation]:
    telemetry = state.telemetry
    if telemetry is None or not is_instrumentation_enabled():
        return None
    try:
        host, port, traced = _address(resource._client)
        return telemetry.start(operation, kwargs.get("model"), host, port, traced, kwargs)
    except Exception:
        logger.debug("neuralwatt: could not start telemetry", exc_info=True)
        return None


def _take(invocation: Invocation, result: Any) -> Any:
    """What the SDK returned -> what the user gets: the result itself or a proxy around it."""
    try:
        if isinstance(result, Stream):
            sse.hook_decoder(getattr(result, "_decoder", None))  # not read yet: the SDK is lazy
            return StreamProxy(result, invocation)
        if isinstance(result, AsyncStream):
            sse.hook_decoder(getattr(result, "_decoder", None))
            return AsyncStreamProxy(result, invocation)
        if isinstance(result, LegacyAPIResponse) and not result._stream:
            # `with_raw_response`: the body is already read, so the energy is known now,
            # whether or not the user ever calls `.parse()`.
            invocation.observe(result.http_response.json())
            invocation.end(measurement(invocation.data_energy, invocation.data_cost))
            return result
        if isinstance(result, LegacyAPIResponse) or isinstance(result, _STREAMING_RESPONSES):
            return RawResponseProxy(result, invocation)
        _observe(invocation, result)  # a whole response reads like one chunk
        invocation.end(measurement(invocation.data_energy, invocation.data_cost))
    except Exception:
        logger.debug("neuralwatt: could not read the response", exc_info=True)
        invocation.end()
    return result


def _call(invocation: Invocation, wrapped, args, kwargs):
    invocation.activate()
    try:
        return wrapped(*args, **kwargs)
    except BaseException as error:
        invocation.end(error=error)
        raise
    finally:
        invocation.deactivate()


async def _acall(invocation: Invocation, wrapped, args, kwargs):
    invocation.activate()
    try:
        return await wrapped(*args, **kwargs)
    except BaseException as error:
        invocation.end(error=error)
        raise
    finally:
        invocation.deactivate()


def sync_wrapper(operation: str):
    def wrapper(wrapped, instance, args, kwargs):
        invocation = _begin(operation, instance, kwargs)
        if invocation is None:
            return wrapped(*args, **kwargs)
        return _take(invocation, _call(invocation, wrapped, args, kwargs))

    wrapper.__name__ = f"neuralwatt_{operation}"
    return wrapper


def async_wrapper(operation: str):
    async def wrapper(wrapped, instance, args, kwargs):
        invocation = _begin(operation, instance, kwargs)
        if invocation is None:
            return await wrapped(*args, **kwargs)
        return _take(invocation, await _acall(invocation, wrapped, args, kwargs))

    wrapper.__name__ = f"neuralwatt_async_{operation}"
    return wrapper


def _finish_stream(invocation: Invocation, stream: Any) -> None:
    """End a stream's invocation with whatever energy its decoder (or a data chunk) carried."""
    if invocation.ended:
        return
    try:
        found = sse.captured(getattr(stream, "_decoder", None), invocation.data_energy, invocation.data_cost)
    except Exception:
        logger.debug("neuralwatt: could not read captured energy", exc_info=True)
        found = None
    invocation.end(found)


def _observe(invocation: Invocation, chunk: Any) -> None:
    """Read one chunk; the fast path for SDK chunks, the general one for anything else."""
    try:
        invocation.observe_chunk(chunk)
    except AttributeError:
        try:
            invocation.observe(chunk)
        except Exception:
            logger.debug("neuralwatt: could not read a chunk", exc_info=True)
    except Exception:
        logger.debug("neuralwatt: could not read a chunk", exc_info=True)


class StreamProxy(wrapt.ObjectProxy):
    """A `Stream` that ends its request's span exactly once, however the stream ends."""

    def __init__(self, stream, invocation: Invocation):
        super().__init__(stream)
        self._self_invocation = invocation

    def __iter__(self):
        # A generator over the SDK's own iteration: the cheapest per-chunk path. Its
        # GeneratorExit (the consumer dropped this iterator: `break`, `next(iter(s))`) does not
        # end the span, because the stream itself lives on and can still be read.
        invocation, stream = self._self_invocation, self.__wrapped__
        try:
            for chunk in stream:
                _observe(invocation, chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            invocation.end(error=error)
            raise
        _finish_stream(invocation, stream)

    def __next__(self):
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            _finish_stream(self._self_invocation, self.__wrapped__)
            raise
        except BaseException as error:
            self._self_invocation.end(error=error)
            raise
        _observe(self._self_invocation, chunk)
        return chunk

    def __enter__(self):
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            _finish_stream(self._self_invocation, self.__wrapped__)

    def close(self):
        try:
            return self.__wrapped__.close()
        finally:
            _finish_stream(self._self_invocation, self.__wrapped__)

    def __del__(self):
        try:
            _finish_stream(self._self_invocation, self.__wrapped__)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class AsyncStreamProxy(wrapt.ObjectProxy):
    """An `AsyncStream` that ends its request's span exactly once, however the stream ends."""

    def __init__(self, stream, invocation: Invocation):
        super().__init__(stream)
        self._self_invocation = invocation

    async def __aiter__(self):
        invocation, stream = self._self_invocation, self.__wrapped__
        try:
            async for chunk in stream:
                _observe(invocation, chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            invocation.end(error=error)
            raise
        _finish_stream(invocation, stream)

    async def __anext__(self):
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            _finish_stream(self._self_invocation, self.__wrapped__)
            raise
        except BaseException as error:
            self._self_invocation.end(error=error)
            raise
        _observe(self._self_invocation, chunk)
        return chunk

    async def __aenter__(self):
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            _finish_stream(self._self_invocation, self.__wrapped__)

    async def close(self):
        try:
            return await self.__wrapped__.close()
        finally:
            _finish_stream(self._self_invocation, self.__wrapped__)

    async def aclose(self):
        try:
            return await self.__wrapped__.aclose()
        finally:
            _finish_stream(self._self_invocation, self.__wrapped__)

    def __del__(self):
        try:
            _finish_stream(self._self_invocation, self.__wrapped__)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class RawResponseProxy(wrapt.ObjectProxy):
    """A `with_raw_response` stream or a `with_streaming_response` response.

    The span passes to whatever `.parse()` builds (a stream proxy or a parsed model); a raw
    response that is closed or collected before `.parse()` ends the span without energy.
    """

    def __init__(self, raw, invocation: Invocation):
        super().__init__(raw)
        self._self_invocation = invocation
        self._self_parsed = None  # (what the SDK parsed, what we handed out)

    def parse(self, *args, **kwargs):
        parsed = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(parsed):  # AsyncAPIResponse.parse is a coroutine
            return self._self_parse_later(parsed)
        return self._self_hand_over(parsed)

    async def _self_parse_later(self, pending):
        return self._self_hand_over(await pending)

    def _self_hand_over(self, parsed):
        # The SDK caches parse() results: hand out the same proxy for the same object.
        if self._self_parsed is not None and self._self_parsed[0] is parsed:
            return self._self_parsed[1]
        handed = _take(self._self_invocation, parsed)
        self._self_parsed = (parsed, handed)
        return handed

    def close(self):
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._self_close_later(result)
        self._self_release()
        return result

    async def _self_close_later(self, pending):
        try:
            return await pending
        finally:
            self._self_release()

    def _self_release(self):
        if self._self_parsed is None:
            self._self_invocation.end()

    def __del__(self):
        try:
            self._self_release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
