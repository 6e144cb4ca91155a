"""Hooks on the SDK clients' `_process_response`, which every successful call goes through:
the response's headers reach the call's record; when the SDK's own span was adopted (anthropic),
a whole response is read before the SDK ends that span; and a call that bypassed our wrappers is
still recorded.

Sync and async twins (`process_response_hook`/`async_...`, `middleware_result_hook`/`async_...`): shells
that call or await the SDK; everything after is shared (`_processed`, `_not_processed`,
`_middleware_result`)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from ..call import hops
from ..call.begin import begin, state
from ..call.invocation import Invocation, pending
from ..call.take import failed, read_later, take
from ..telemetry import foreign
from .adapters import ADAPTERS

logger = logging.getLogger(__name__)


def _response_read(call: Invocation, result: Any, response: Any, client: Any, stream: bool) -> None:
    """The SDK has the HTTP response of a call of ours: keep its headers; and when the SDK's own
    span is adopted, read a whole response now, before the SDK ends that span."""
    try:
        call.headers = response.headers
        # A client middleware (anthropic's) may send more than one request for the call (hops.py).
        if call.adapter.package == "anthropic" and getattr(client, "_middleware", None):
            if call.hops is None:
                call.hops = []
            if stream and not response.is_closed:
                hops.follow(call.hops, response)
            elif not stream:
                hops.whole(call.hops, response)
        if call.adopted != foreign.SDK:  # kept for an error the SDK may still raise after it (take.failed)
            call.response = result
            return
        if call.hops is not None:
            return  # the chain's result is taken when it is final (middleware_result_hook)
        _take_before_sdk(call, result)
    except Exception:
        logger.debug("neuralwatt: could not read the response", exc_info=True)


def _take_before_sdk(call: Invocation, result: Any) -> None:
    """A whole response of a call whose span is the SDK's: read now, before the SDK ends it."""
    try:
        sdk = call.adapter.sdk()
        if isinstance(result, (sdk.stream, sdk.async_stream)):
            return
        if isinstance(result, sdk.raw) and read_later(result):
            return  # a raw stream, or `with_streaming_response`: read later, through the proxy
        take(call, result)
    except Exception:
        logger.debug("neuralwatt: could not read the response", exc_info=True)


def _bypassed(client: Any, kwargs: dict, result: Any) -> Any:
    """A call that reached the SDK past our wrappers: a method bound before `instrument()` (the
    SDK caches `with_raw_response` bindings per client) or kept from before. Known API paths
    still get their span, from here; it starts when the response arrived."""
    if state.telemetry is None:  # uninstrumented: nothing of ours runs
        return result
    try:
        options, response = kwargs.get("options"), kwargs.get("response")
        path = str(getattr(options, "url", "")).split("?")[0]
        routed = _route(type(client).__module__.split(".")[0], path)
        if routed is None or getattr(options, "method", "post").lower() != "post":
            return result
        body = getattr(options, "json_data", None)
        call = begin(routed[0], routed[1], SimpleNamespace(_client=client), body if isinstance(body, dict) else {})
        if call is None:
            return result
        call.headers = getattr(response, "headers", None)
        return take(call, result)
    except Exception:
        logger.debug("neuralwatt: could not record a call that bypassed our wrappers", exc_info=True)
        return result


def _route(package: str, path: str):
    """(adapter, operation) for a request path of an API we know, or None."""
    for adapter in ADAPTERS:
        if adapter.package == package:
            for suffix, operation in adapter.paths:
                if path.endswith(suffix):
                    return adapter, operation
    return None


def process_response_hook(wrapped, instance, args, kwargs):
    """On the SDK client's `_process_response`, which every call with a response goes through."""
    try:
        result = wrapped(*args, **kwargs)
    except Exception as error:
        _not_processed(kwargs, error)
        raise
    return _processed(instance, kwargs, result)


async def async_process_response_hook(wrapped, instance, args, kwargs):
    try:
        result = await wrapped(*args, **kwargs)
    except Exception as error:
        _not_processed(kwargs, error)
        raise
    return _processed(instance, kwargs, result)


def _not_processed(kwargs: dict, error: BaseException) -> None:
    """The SDK raised while processing a whole response it had received: a `.parse()` whose answer
    does not validate. The body carries the energy: keep it for the call's failure (take.failed),
    and end an adopted SDK span's call now, before the SDK ends that span."""
    call = pending.get()
    if call is None or call.ended:
        return
    response = kwargs.get("response")
    if response is None:
        return
    try:
        call.headers = response.headers
        if not response.is_stream_consumed or not response.headers.get("content-type", "").startswith(
                "application/json"):
            return
        body = response.json()
        if isinstance(body, dict):
            call.response = body
            if call.adopted == foreign.SDK:
                failed(call, error)
    except Exception:
        logger.debug("neuralwatt: could not read a response the SDK failed on", exc_info=True)


def _processed(client: Any, kwargs: dict, result: Any) -> Any:
    call = pending.get()
    if call is None:
        return _bypassed(client, kwargs, result)
    if not call.ended:
        _response_read(call, result, kwargs.get("response"), client, kwargs.get("stream") is True)
    return result


def middleware_result_hook(wrapped, instance, args, kwargs):
    """On anthropic's `_finalize_middleware_result`: what a client middleware's chain gave, just
    before the SDK ends its span; a call of ours on that span ends here."""
    value = wrapped(*args, **kwargs)
    _middleware_result(value)
    return value


async def async_middleware_result_hook(wrapped, instance, args, kwargs):
    value = await wrapped(*args, **kwargs)
    _middleware_result(value)
    return value


def _middleware_result(value: Any) -> None:
    call = pending.get()
    if call is not None and not call.ended and call.adopted == foreign.SDK:
        _take_before_sdk(call, value)


def client_targets(package: str) -> list:
    """The hooks on an SDK's base client (openai and anthropic share the design; only anthropic's
    has client middleware)."""
    module = f"{package}._base_client"
    return [(module, "SyncAPIClient._process_response", process_response_hook),
            (module, "AsyncAPIClient._process_response", async_process_response_hook),
            (module, "SyncAPIClient._finalize_middleware_result", middleware_result_hook),
            (module, "AsyncAPIClient._finalize_middleware_result", async_middleware_result_hook)]
