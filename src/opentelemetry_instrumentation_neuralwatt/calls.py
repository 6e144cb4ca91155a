"""The wrappers every adapter's methods get: start a call's record, run the SDK, take its result.

What the SDK returns decides how the call ends: a whole response ends it now; a stream, a raw
response or a streaming response is handed to the user inside a proxy (`streams.py`) that ends
it exactly once. Every piece of our code runs under a guard: a failure is logged at debug level
and the user's call goes on as if we were not there.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from opentelemetry import context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

from . import deferred, foreign, sse, sse_bytes
from .endpoints import Endpoints
from .invocation import Invocation, pending
from .payload import clean_text
from .raw import RawResponseProxy
from .streams import AsyncStreamProxy, StreamProxy
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

CONVERSATION_HEADER = "x-nw-conversation-id"
CONVERSATION_ID = GenAI.GEN_AI_CONVERSATION_ID


class _State:
    """What `instrument()` set up; `telemetry` is None while uninstrumented, which turns every
    surviving wrapper (the SDK caches bound methods) into a plain pass-through."""

    telemetry: Telemetry | None = None
    endpoints: Endpoints = Endpoints()
    # id(base URL object) -> (that object, host, port, is Neuralwatt); reset by instrument()
    addresses: dict = {}


state = _State()


_DEFAULT_PORTS = {"https": 443, "http": 80}

try:  # what `is_instrumentation_enabled()` reads, read from the context `begin` already holds
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESSED
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN as _SUPPRESSED_PLAIN
except ImportError:  # pragma: no cover - another release: ask it
    _SUPPRESSED = _SUPPRESSED_PLAIN = None  # type: ignore[assignment]


def _suppressed(current: Any) -> bool:
    if _SUPPRESSED is None:  # pragma: no cover
        return not is_instrumentation_enabled()
    return bool(current.get(_SUPPRESSED) or current.get(_SUPPRESSED_PLAIN))


def _address(client: Any):
    """The client's host, port and whether it is Neuralwatt, computed once per base URL."""
    # `_base_url` is what the `base_url` property returns; openai 3 builds that property with a
    # function-level import that costs more than the rest of this function.
    url = getattr(client, "_base_url", None) or client.base_url
    cached = state.addresses.get(id(url))
    if cached is None or cached[0] is not url:
        port = url.port or _DEFAULT_PORTS.get(url.scheme)  # httpx leaves a scheme's default port out
        cached = (url, url.host, port, state.endpoints.matches(url.host, port))
        if len(state.addresses) > 1024:  # clients come and go: stay bounded
            state.addresses.clear()
        state.addresses[id(url)] = cached
    return cached


def begin(adapter: Any, operation: str, resource: Any, kwargs: dict) -> Invocation | None:
    telemetry = state.telemetry
    if telemetry is None:
        return None
    if deferred._thread is None:  # a forked child's first call: the finalizers' worker
        deferred.ensure()
    current = context.get_current()  # read once: suppression, the open `measure()` blocks, the parent
    if _suppressed(current):
        return None
    try:
        client = resource._client
        _, host, port, traced = _address(client)
        model = clean_text(kwargs.get("model"))
        attributes: dict | None = None
        tenant = telemetry.attribution.attributes() if telemetry.attribution is not None else None
        genai = None
        if traced:
            attributes = adapter.request_attributes(operation, model, host, port, kwargs, telemetry.capture_content)
            extra_headers = kwargs.get("extra_headers")
            if extra_headers or getattr(client, "_custom_headers", None):  # most calls send none of their own
                conversation = conversation_id(extra_headers, client)
                if conversation:
                    attributes[CONVERSATION_ID] = conversation
            if tenant:
                attributes.update(tenant)
            # Another GenAI instrumentation (util-genai) records this call already: enrich its span.
            genai = foreign.genai_data()
        return Invocation(telemetry, adapter, operation, model, host, port, traced, attributes, current,
                          traced and genai is None and adapter.sdk_traces(client), genai,
                          client if traced else None, tenant or None)
    except Exception:
        logger.debug("neuralwatt: could not start telemetry", exc_info=True)
        return None


def conversation_id(extra_headers: Any, client: Any) -> str | None:
    """`X-NW-Conversation-ID`, from the call's `extra_headers` or the client's default headers."""
    for headers in (extra_headers, getattr(client, "_custom_headers", None)):
        if isinstance(headers, dict) and headers:
            for name, value in headers.items():
                if isinstance(name, str) and name.lower() == CONVERSATION_HEADER and isinstance(value, str):
                    return clean_text(value)
    return None


def take(call: Invocation, result: Any) -> Any:
    """What the SDK returned -> what the user gets: the result itself or a proxy around it."""
    if call.ended:  # an adapter already took it inside the SDK (see anthropic_messages)
        return result
    try:
        sdk = call.adapter.sdk()
        if isinstance(result, sdk.stream):
            hook_stream(call, result)
            return StreamProxy(result, call)
        if isinstance(result, sdk.async_stream):
            hook_stream(call, result)
            return AsyncStreamProxy(result, call)
        if isinstance(result, sdk.raw):
            if read_later(result):
                if call.adopted == foreign.SDK:  # its span must wait for the body the user reads
                    call.adapter.end_before_sdk(call, result)
                return RawResponseProxy(result, call)
            # `with_raw_response` without a stream: the body is already read, so the energy is
            # known now, whether or not the user ever calls `.parse()`.
            call.adapter.observe(call, result.http_response.json())
        else:
            call.adapter.observe(call, result)  # a whole response reads like one chunk
        call.finish()
    except Exception:
        logger.debug("neuralwatt: could not read the response", exc_info=True)
        call.end()
    except BaseException as error:  # an interrupt while we read: the call ends, the interrupt goes on
        call.end(error=error)
        raise
    return result


def read_later(raw: Any) -> bool:
    """A raw response whose body is still to be read: an SSE stream, or `with_streaming_response`."""
    streams = getattr(raw, "_stream", None) or getattr(raw, "_is_sse_stream", False)  # legacy / current
    return bool(streams) or not raw.http_response.is_closed


def hook_stream(call: Invocation, stream: Any) -> None:
    """Capture the comments of this stream's own decoder; it has not been read yet."""
    decoder = getattr(stream, "_decoder", None)
    if not sse_bytes.hook_bytes(decoder):  # one look per network read; a decoder of another shape:
        sse.hook_decoder(decoder)  # a hook per line
    call.decoder = decoder
    if call.adopted == foreign.SDK:
        call.adapter.end_before_sdk(call, stream)


def failed(call: Invocation, error: BaseException) -> None:
    """End a call the SDK raised on. An error raised after the response arrived (`.parse()`
    raising LengthFinishReasonError, with or without its `completion`) keeps its energy."""
    completion = getattr(error, "completion", None) or call.response
    if completion is not None:
        try:
            call.adapter.observe(call, completion)
        except Exception:
            logger.debug("neuralwatt: could not read the failed call's response", exc_info=True)
        call.finish(error)
    else:
        call.end(error=error)


def run_as(call: Invocation, wrapped, args, kwargs):
    """Run the SDK's function as `call`: its span current, the call pending, a failure ending it."""
    token = pending.set(call)
    try:
        call.activate()
        return wrapped(*args, **kwargs)
    except BaseException as error:
        failed(call, error)
        raise
    finally:
        pending.reset(token)
        call.deactivate()


async def arun_as(call: Invocation, wrapped, args, kwargs):
    token = pending.set(call)
    try:
        call.activate()
        return await wrapped(*args, **kwargs)
    except BaseException as error:
        failed(call, error)
        raise
    finally:
        pending.reset(token)
        call.deactivate()


def run(adapter, operation: str, wrapped, instance, args, kwargs):
    """One synchronous SDK call, recorded. A call the SDK makes inside one of ours (an older
    `beta...parse` calls `create`) is part of that one: one call, one span. Once its span has
    started, the call ends whatever happens (an interrupt while we read, too)."""
    call = None
    try:
        if pending.get() is None:
            call = begin(adapter, operation, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        return take(call, run_as(call, wrapped, args, kwargs))
    except BaseException as error:
        if call is not None and not call.ended:
            call.end(error=error)
        raise


async def arun(adapter, operation: str, wrapped, instance, args, kwargs):
    """One asynchronous SDK call, recorded."""
    call = None
    try:
        if pending.get() is None:
            call = begin(adapter, operation, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        return take(call, await arun_as(call, wrapped, args, kwargs))
    except BaseException as error:
        if call is not None and not call.ended:
            call.end(error=error)
        raise


def sync_wrapper(adapter, operation: str):
    # wrapt calls its wrapper with (wrapped, instance, args, kwargs): that is `run`, with no frame between.
    wrapper = functools.partial(run, adapter, operation)
    wrapper.__name__ = f"neuralwatt_{adapter.api}_{operation}"  # type: ignore[attr-defined]
    return wrapper


def async_wrapper(adapter, operation: str):
    wrapper = functools.partial(arun, adapter, operation)  # the coroutine the SDK's method would return
    wrapper.__name__ = f"neuralwatt_async_{adapter.api}_{operation}"  # type: ignore[attr-defined]
    return wrapper
