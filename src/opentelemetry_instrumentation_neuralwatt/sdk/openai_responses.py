"""openai Responses API (`/v1/responses`): `responses.create`, stream or not, and the helpers
over it (`responses.stream()` calls `create`). Neuralwatt does not report energy here yet; when
a body `energy` object or a `: energy` comment appears, it is recorded like any other."""

from __future__ import annotations

from typing import Any

from ..call.run import async_wrapper, sync_wrapper
from ..telemetry import content
from .adapter import Adapter, add_finish_reason, get, keep_energy, keep_text, request_attributes
from .stream_helpers import async_helper_closed, async_helper_events, helper_closed, helper_events

# Response.status -> the GenAI finish reason; an incomplete response says why itself.
_FINISH = {"completed": "stop", "failed": "error", "cancelled": "cancelled"}
_INCOMPLETE = {"max_output_tokens": "length"}
# Stream events that carry the whole response object so far.
_WITH_RESPONSE = ("response.created", "response.in_progress", "response.completed",
                  "response.incomplete", "response.failed")


_LAST = frozenset(("response.completed", "response.incomplete", "response.failed", "error"))


class OpenAIResponses(Adapter):
    api = "responses"
    paths = (("/responses", "chat"),)
    has_last_event = True

    def targets(self):
        module = "openai.resources.responses.responses"
        return [
            (module, "Responses.create", sync_wrapper(self, "chat")),
            (module, "AsyncResponses.create", async_wrapper(self, "chat")),
            # `parse` posts itself (it does not call `create`).
            (module, "Responses.parse", sync_wrapper(self, "chat")),
            (module, "AsyncResponses.parse", async_wrapper(self, "chat")),
            ("openai.lib.streaming.responses._responses", "ResponseStream.close", helper_closed),
            ("openai.lib.streaming.responses._responses", "AsyncResponseStream.close", async_helper_closed),
            ("openai.lib.streaming.responses._responses", "ResponseStream.__stream__", helper_events),
            ("openai.lib.streaming.responses._responses", "AsyncResponseStream.__stream__", async_helper_events),
        ]

    def request_attributes(self, operation, model, host, port, kwargs, capture_content):
        captured = None
        if capture_content:
            given = kwargs.get("input")
            if isinstance(given, str):
                system, inputs = [], [{"role": "user", "parts": content.text_parts(given)}]
            else:
                system, inputs = content.chat_messages(given)
            system = content.text_parts(kwargs.get("instructions")) + system
            captured = content.request_attributes(system, inputs, kwargs.get("tools"))
        return request_attributes(self.api, operation, model, host, port, kwargs, captured)

    content_event = "response.output_text.delta"

    @staticmethod
    def is_content(item: Any) -> bool:
        kind = get(item, "type")
        return isinstance(kind, str) and kind.endswith(".delta")

    @staticmethod
    def is_last(item: Any) -> bool:
        return get(item, "type") in _LAST

    def observe(self, call: Any, item: Any) -> None:
        """A whole `Response`, its decoded JSON, or one stream event."""
        kind = get(item, "type")
        if isinstance(kind, str):  # a stream event
            if kind == "response.output_text.delta" and call.output_text is not None:
                keep_text(call, get(item, "output_index"), get(item, "delta"))
            elif kind in _WITH_RESPONSE:
                _observe_response(call, get(item, "response"), whole=kind != "response.created")
            keep_energy(call, item)
            return
        _observe_response(call, item, whole=True)
        if call.output_text is not None:
            keep_text(call, 0, get(item, "output_text"))


def _observe_response(call: Any, response: Any, whole: bool) -> None:
    if response is None:
        return
    if call.response_id is None:
        call.response_id = get(response, "id")
    model = get(response, "model")
    if isinstance(model, str):
        call.response_model = model
    keep_energy(call, response)
    if not whole:
        return
    status = get(response, "status")
    if status == "incomplete":
        reason = get(get(response, "incomplete_details"), "reason")
        add_finish_reason(call, _INCOMPLETE.get(reason, reason))
    else:
        add_finish_reason(call, _FINISH.get(status))
    usage = get(response, "usage")
    if usage is not None:
        call.input_tokens = get(usage, "input_tokens")
        call.output_tokens = get(usage, "output_tokens")
        call.cache_read_tokens = get(get(usage, "input_tokens_details"), "cached_tokens")
        call.reasoning_tokens = get(get(usage, "output_tokens_details"), "reasoning_tokens")


ADAPTER = OpenAIResponses()
