"""dspy's lm15 requests: one call each, begun as lm15 sends it, read by the adapter of the API
its path names (chat completions, Responses, Messages); a whole response (`_send`) is read from
its body and headers.

Sync and async twins (`send`/`asend`): shells that call or await lm15; what follows is shared (`_whole`)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from ..call.begin import begin, state
from ..call.run import arun_as, run_as
from . import anthropic_messages, openai_chat, openai_responses

logger = logging.getLogger(__name__)

_APIS = (openai_chat.ADAPTER, openai_responses.ADAPTER, anthropic_messages.ADAPTER)
PORTS = {"https": 443, "http": 80}


_ROUTES: dict = {}  # request URL -> (adapter, operation, URL), or None for a path no adapter reads


def begin_request(provider: Any, request: Any):
    """A call for one lm15 `TransportRequest` to an API we read, or None."""
    if state.telemetry is None or request is None:
        return None
    try:
        route = _ROUTES.get(request.url, False)
        if route is False:
            parts = urlsplit(request.url)
            # What `begin` reads of a client's base URL, in httpx's names.
            url = SimpleNamespace(scheme=parts.scheme, host=parts.hostname or "",
                                  port=parts.port or PORTS.get(parts.scheme))
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


def send(wrapped, provider, args, kwargs):
    call = begin_request(provider, args[0] if args else kwargs.get("request"))
    return wrapped(*args, **kwargs) if call is None else _whole(call, provider, run_as(call, wrapped, args, kwargs))


async def asend(wrapped, provider, args, kwargs):
    call = begin_request(provider, args[0] if args else kwargs.get("request"))
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
