"""Hooks on the SDK clients' `_process_response`, which every successful call goes through:
the response's headers reach the call's record, and when the SDK's own span was adopted
(anthropic), a whole response is read before the SDK ends that span."""

from __future__ import annotations

import logging
from typing import Any

from .calls import pending, read_later, take
from .invocation import Invocation

logger = logging.getLogger(__name__)


def _response_read(call: Invocation, result: Any, response: Any) -> None:
    """The SDK has the HTTP response of a call of ours: keep its headers; and when the SDK's own
    span is adopted, read a whole response now, before the SDK ends that span."""
    try:
        call.headers = response.headers
        if call.adopted:
            sdk = call.adapter.sdk()
            if isinstance(result, (sdk.stream, sdk.async_stream)):
                return
            if isinstance(result, sdk.raw) and read_later(result):
                return  # a raw stream, or `with_streaming_response`: read later, through the proxy
            take(call, result)
    except Exception:
        logger.debug("neuralwatt: could not read the response", exc_info=True)


def process_response_hook(wrapped, instance, args, kwargs):
    """On the SDK client's `_process_response`, which every successful call goes through."""
    result = wrapped(*args, **kwargs)
    call = pending.get()
    if call is not None and not call.ended:
        _response_read(call, result, kwargs.get("response"))
    return result


async def async_process_response_hook(wrapped, instance, args, kwargs):
    result = await wrapped(*args, **kwargs)
    call = pending.get()
    if call is not None and not call.ended:
        _response_read(call, result, kwargs.get("response"))
    return result


def client_targets(package: str) -> list:
    """The hooks on an SDK's base client (openai and anthropic share the design)."""
    module = f"{package}._base_client"
    return [(module, "SyncAPIClient._process_response", process_response_hook),
            (module, "AsyncAPIClient._process_response", async_process_response_hook)]
