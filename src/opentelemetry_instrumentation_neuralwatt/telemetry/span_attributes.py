"""What a finished call puts on its span besides the energy: the response's GenAI attributes, the
live wire's (MCR sessions, service tier, status frames, repeated energy reports), and an error's
status description, with no secret and, unless content is captured, no content in it."""

from __future__ import annotations

import re
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

from ..wire import livewire, sse
from ..wire.payload import clean_text
from . import content

ENERGY_REPORT_EVENT = "neuralwatt.energy.report"
CACHE_READ_TOKENS = GenAI.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
# Renamed from gen_ai.usage.cache_creation.input_tokens in the GenAI conventions; semantic-conventions
# releases up to 0.66b2 still name only the old attribute.
CACHE_WRITE_TOKENS = getattr(GenAI, "GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS", "gen_ai.usage.cache_write.input_tokens")
REASONING_TOKENS = GenAI.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS


def count(value: Any) -> bool:
    """A token count an attribute or a histogram can take."""
    return type(value) is int and 0 <= value < 2**63


# API keys and bearer tokens a server may echo in an error message never reach a span.
_SECRET = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}"  # OpenAI-style keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]+=*"  # Authorization values
    r"|(?i:api[_-]?key)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]+)"  # api_key=..., "apiKey": "..."
)


_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
MAX_DESCRIPTION = 512


def client_secret(client: Any) -> str | None:
    """The key a client sends (openai's and anthropic's `api_key`, anthropic's `auth_token`),
    looked up only when an error is described."""
    key = getattr(client, "api_key", None) or getattr(client, "auth_token", None)
    return key if isinstance(key, str) and len(key) >= 4 else None


def scrub(text: str, secret: str | None = None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return _SECRET.sub("[redacted]", text)


def describe(error: BaseException, secret: str | None, capture_content: bool) -> str:
    """An error span's status description, bounded. Without content capture: the exception's
    class, HTTP status and error code only, since a server's message may echo the request (the
    user's prompt) or the key. With it: the message too. The client's key never, whatever its
    shape, nor anything shaped like a key or bearer token."""
    text = type(error).__qualname__
    status = getattr(error, "status_code", None)
    if type(status) is int:
        text += f": HTTP {status}"
    code = getattr(error, "code", None)
    if isinstance(code, str) and _CODE.fullmatch(code):
        text += f" ({code})"
    if capture_content:
        text += f": {error}"
    return scrub(text, secret)[:MAX_DESCRIPTION]


def live_wire(call, span, attributes: dict) -> None:
    """MCR session data, service tier, MCR status frames and repeated energy reports (the events
    only when there is a span to put them on)."""
    decoder = call.decoder
    if call.service_tier is not None and isinstance(call.service_tier, str):
        attributes[livewire.SERVICE_TIER] = call.service_tier[:livewire.MAX_TEXT]
    sessions = getattr(decoder, sse.MCR_SESSION, None) if decoder is not None else None
    if sessions:
        attributes.update(livewire.session_attributes(sessions[-1]))
    if call.data_mcr is not None:
        attributes.update(livewire.session_attributes(call.data_mcr))
    statuses = getattr(decoder, sse.MCR_STATUS, None) if decoder is not None else None
    if statuses:
        attributes[livewire.STATUS_EVENTS] = len(statuses)
        if span is not None:
            for text in statuses:
                span.add_event(livewire.STATUS_EVENT, livewire.status_event(text))
    if len(call.reports) > 1 and span is not None:
        for report in call.reports:
            span.add_event(ENERGY_REPORT_EVENT, dict(report.attributes))


_RESPONSE_MODEL, _RESPONSE_ID = GenAI.GEN_AI_RESPONSE_MODEL, GenAI.GEN_AI_RESPONSE_ID
_FINISH_REASONS = GenAI.GEN_AI_RESPONSE_FINISH_REASONS
_INPUT_TOKENS, _OUTPUT_TOKENS = GenAI.GEN_AI_USAGE_INPUT_TOKENS, GenAI.GEN_AI_USAGE_OUTPUT_TOKENS


def response_attributes(call) -> dict:
    attributes: dict[str, Any] = {}
    for attribute, value in ((_RESPONSE_MODEL, call.response_model), (_RESPONSE_ID, call.response_id)):
        value = clean_text(value)
        if value:
            attributes[attribute] = value
    if call.finish_reasons:
        attributes[_FINISH_REASONS] = [clean_text(str(r)) or "" for r in call.finish_reasons]
    for attribute, number in ((_INPUT_TOKENS, call.input_tokens), (_OUTPUT_TOKENS, call.output_tokens),
                              (CACHE_READ_TOKENS, call.cache_read_tokens),
                              (CACHE_WRITE_TOKENS, call.cache_write_tokens),
                              (REASONING_TOKENS, call.reasoning_tokens)):
        if number is not None and count(number):  # most calls report some of these only
            attributes[attribute] = number
    if call.output_text or call.output_tools:
        output = content.output_messages(call)
        if output is not None:
            attributes[content.OUTPUT] = output
    return attributes
