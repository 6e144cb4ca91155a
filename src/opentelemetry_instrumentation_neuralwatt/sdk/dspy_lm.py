"""dspy >= 3.4's native engine: lm15, vendored in dspy, which speaks HTTP over its own sockets.

Not an API shape of its own: lm15 sends chat completions, Messages and Responses requests, each
read by that API's adapter. Every lm15 request goes through `_send` (the whole body, read into an
`HttpResponse` with its headers) or `_stream_raw` (SSE, cut into lines by the transport response's
`iter_lines` for a parser that drops comment lines) of its provider base classes: one call each.
The request body is what the SDKs take as keyword arguments; a stream's end events carry the data
chunk they came from; the `: energy` comments are kept from the lines as they pass. With
`engine="litellm"`, dspy goes through the openai SDK, hooked already. A custom engine makes its own
calls: one that points at a Neuralwatt host and reached none of our hooks is named in a warning.
"""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from ..call import deferred
from ..call.begin import begin, state
from ..call.invocation import pending
from ..call.run import arun_as, run_as
from ..telemetry.measure import measure
from ..wire import sse
from . import anthropic_messages, openai_chat, openai_responses
from .adapter import Adapter, keep_text

logger = logging.getLogger(__name__)

_APIS = (openai_chat.ADAPTER, openai_responses.ADAPTER, anthropic_messages.ADAPTER)
_PORTS = {"https": 443, "http": 80}


class DspyLM(Adapter):
    package = "dspy"

    def targets(self):
        base, abase, lines = (f"dspy._vendor.lm15.{name}" for name in
                              ("providers.base", "providers.async_base", "transports._types"))
        return [(base, "BaseProviderLM._send", _send), (abase, "AsyncBaseProviderLM._send", _asend),
                (base, "BaseProviderLM._stream_raw", _stream), (abase, "AsyncBaseProviderLM._stream_raw", _stream),
                (lines, "TransportResponse.iter_lines", _lines), (lines, "AsyncTransportResponse.aiter_lines", _lines),
                # One engine attempt, after dspy's cache: where a custom engine is called.
                ("dspy.clients.execution", "_attempt", _attempt), ("dspy.clients.execution", "_aattempt", _aattempt)]


_ROUTES: dict = {}  # request URL -> (adapter, operation, URL), or None for a path no adapter reads


def _begin(provider: Any, request: Any):
    """A call for one lm15 `TransportRequest` to an API we read, or None."""
    if state.telemetry is None or request is None:
        return None
    try:
        route = _ROUTES.get(request.url, False)
        if route is False:
            parts = urlsplit(request.url)
            # What `begin` reads of a client's base URL, in httpx's names.
            url = SimpleNamespace(scheme=parts.scheme, host=parts.hostname or "",
                                  port=parts.port or _PORTS.get(parts.scheme))
            route = next(((api, operation, url) for api in _APIS for suffix, operation in api.paths
                          if parts.path.endswith(suffix)), None)
            if len(_ROUTES) >= 256:  # URLs come and go: stay bounded
                _ROUTES.clear()
            _ROUTES[request.url] = route
        if route is None:
            return None
        adapter, operation, url = route
        # Read for the request attributes only when the span is ours (another host's call only
        # counts the energy it reports).
        body = json.loads(request.body) if state.endpoints.matches(url.host, url.port) else {}
        client = SimpleNamespace(_base_url=url, _custom_headers=dict(request.headers),
                                 api_key=getattr(provider, "api_key", None))
        return begin(adapter, operation, SimpleNamespace(_client=client), body if isinstance(body, dict) else {})
    except Exception:
        logger.debug("neuralwatt: could not start telemetry for a dspy request", exc_info=True)
        return None


def _send(wrapped, provider, args, kwargs):
    call = _begin(provider, args[0] if args else kwargs.get("request"))
    return wrapped(*args, **kwargs) if call is None else _whole(call, provider, run_as(call, wrapped, args, kwargs))


async def _asend(wrapped, provider, args, kwargs):
    call = _begin(provider, args[0] if args else kwargs.get("request"))
    if call is None:
        return await wrapped(*args, **kwargs)
    return _whole(call, provider, await arun_as(call, wrapped, args, kwargs))


def _whole(call: Any, provider: Any, response: Any) -> Any:
    try:
        call.headers = dict(response.headers)
        if response.status >= 400:  # lm15 raises this error once `_send` has returned
            call.end(error=provider.normalize_error(response.status, response.text()))
            return response
        if call.traced or b'"energy"' in response.body:
            body = json.loads(response.body)
            if isinstance(body, dict):
                call.adapter.observe(call, body)
        call.finish()
    except Exception:
        logger.debug("neuralwatt: could not read a dspy response", exc_info=True)
        call.end()
    return response


def _stream(wrapped, provider, args, kwargs):
    events = wrapped(*args, **kwargs)
    if state.telemetry is None:
        return events
    request = args[1] if len(args) > 1 else kwargs.get("req")
    return (_aevents if hasattr(events, "__anext__") else _events)(provider, request, events)


# The call starts as lm15 sends the request (the stream's first step) and is pending up to the
# first event, so that `_lines` finds it as lm15 opens the response. The stream is closed as lm15
# closes what it iterates: its connection goes back to the pool at once.
def _events(provider: Any, request: Any, events: Any):
    call = _begin(provider, request)
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
    call = _begin(provider, request)
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


def _lines(wrapped, response, args, kwargs):
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


def _attempt(wrapped, instance, args, kwargs):
    engine = _custom_engine(args)
    if engine is None:
        return wrapped(*args, **kwargs)
    with measure() as seen:
        result = wrapped(*args, **kwargs)
    _unmeasured(engine, seen)
    return result


async def _aattempt(wrapped, instance, args, kwargs):
    engine = _custom_engine(args)
    if engine is None:
        return await wrapped(*args, **kwargs)
    with measure() as seen:
        result = await wrapped(*args, **kwargs)
    _unmeasured(engine, seen)
    return result


_warned: set = set()


def _custom_engine(args: tuple) -> str | None:
    """The name of `_attempt(lm, call, backend, ...)`'s backend if it is a custom engine (not
    dspy's) with a Neuralwatt URL among its attributes, not named yet."""
    try:
        name = type(engine := args[2]).__qualname__
        if state.telemetry is None or type(engine).__module__.startswith("dspy.") or name in _warned:
            return None
        for value in getattr(engine, "__dict__", {}).values():
            if isinstance(value, str) and "://" in value:
                parts = urlsplit(value)
                if parts.hostname and state.endpoints.matches(parts.hostname, parts.port or _PORTS.get(parts.scheme)):
                    return name
    except Exception:
        logger.debug("neuralwatt: could not look at a dspy engine", exc_info=True)
    return None


def _unmeasured(name: str, seen: measure) -> None:
    """The attempt succeeded and no call of ours ended inside it: the engine made its own requests."""
    if not seen.requests and name not in _warned and len(_warned) < 64:
        _warned.add(name)
        logger.warning("neuralwatt: dspy's custom engine %s makes its own HTTP calls to a Neuralwatt host; their "
                       "energy is not measured (dspy's own engines are: engine='auto', 'lm15' or 'litellm')", name)


ADAPTER = DspyLM()
