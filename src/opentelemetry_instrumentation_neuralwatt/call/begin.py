"""A call begins: before the SDK sends the request, its record (`Invocation`) is made, with the
span's start attributes, unless the call is not ours to record (uninstrumented, suppressed)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from opentelemetry import context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

from ..telemetry import foreign
from ..wire.payload import clean_text
from . import deferred
from .invocation import Invocation

if TYPE_CHECKING:  # pragma: no cover
    from ..telemetry.recorder import Telemetry

logger = logging.getLogger(__name__)

CONVERSATION_HEADER = "x-nw-conversation-id"
CONVERSATION_ID = GenAI.GEN_AI_CONVERSATION_ID


class _State:
    """What `instrument()` set up; `telemetry` is None while uninstrumented, which turns every
    surviving wrapper (the SDK caches bound methods) into a plain pass-through."""

    telemetry: Telemetry | None = None
    endpoints: Any = None  # sdk.endpoints.Endpoints, set by instrument() before `telemetry`
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
    # What the `base_url` property returns, read where the SDK keeps it: openai 3 builds that
    # property (and `_base_url`, a property there too) with a function-level import that costs
    # more than the rest of this function; anthropic and older openai releases keep `_base_url`.
    url = getattr(client, "_configured_base_url", None) or getattr(client, "_base_url", None) or client.base_url
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
