"""Anthropic Messages API (`/v1/messages`) through the `anthropic` SDK.

Neuralwatt sends the same `energy`/`cost` body objects and `: energy`/`: cost` comments (after
`message_stop`) as on its openai-compatible endpoints. anthropic 2.x traces itself by default:
one CLIENT span per API call, current while the SDK makes the request, ended when the response
(or a stream's body) ends. One call must not get two GenAI spans, so when that span exists our
attributes go on it (`Invocation.adopt`) and are set before the SDK ends it; when it does not,
the call gets our own span as on openai.

Sync and async twins (`_stream_helper`/`_async_stream_helper`): the async manager holds a coroutine to
await, the sync one a function to call; both hand the request to `run`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..call import begin, run
from ..call.run import async_wrapper, sync_wrapper
from ..telemetry import content
from .adapter import Adapter, add_finish_reason, fields, get, keep_energy, keep_text, request_attributes
from .anthropic_span import adopt_sdk_span, end_before_sdk
from .stream_helpers import async_helper_events, helper_events

logger = logging.getLogger(__name__)


class AnthropicMessages(Adapter):
    api = "messages"
    package = "anthropic"
    paths = (("/messages", "chat"),)

    def targets(self):
        client = "anthropic._base_client"
        targets = []
        # `client.beta.messages` has the same methods (pydantic-ai, the SDK's tool runner and its
        # middleware go through it); `messages.stream()` posts through its own request function.
        for messages in ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages"):
            targets += [
                (messages, "Messages.create", sync_wrapper(self, "chat")),
                (messages, "AsyncMessages.create", async_wrapper(self, "chat")),
                (messages, "Messages.parse", sync_wrapper(self, "chat")),
                (messages, "AsyncMessages.parse", async_wrapper(self, "chat")),
                (messages, "Messages.stream", self._stream_helper),
                (messages, "AsyncMessages.stream", self._async_stream_helper),
            ]
        # The stream helpers raise on an event that does not validate (`output_format=`).
        for helpers, prefix in (("anthropic.lib.streaming._messages", ""),
                                ("anthropic.lib.streaming._beta_messages", "Beta")):
            targets += [(helpers, f"{prefix}MessageStream.__stream__", helper_events),
                        (helpers, f"{prefix}AsyncMessageStream.__stream__", async_helper_events)]
        # Where the SDK starts its own span: adopt it (`client_hooks.process_response_hook` then
        # reads whole responses before the SDK ends it).
        return targets + [(client, "start_api_call_span", adopt_sdk_span)]

    def sdk_traces(self, client: Any) -> bool:
        return getattr(client, "_tracer", None) is not None

    def request_attributes(self, operation, model, host, port, kwargs, capture_content):
        captured = None
        if capture_content:
            system, inputs = content.chat_messages(kwargs.get("messages"))
            system = content.text_parts(kwargs.get("system")) + system
            captured = content.request_attributes(system, inputs, kwargs.get("tools"))
        return request_attributes(self.api, operation, model, host, port, kwargs, captured)

    content_event = "content_block_delta"

    @staticmethod
    def is_content(item: Any) -> bool:
        return get(item, "type") == "content_block_delta"

    def observe(self, call: Any, item: Any) -> None:
        """A whole `Message`, its decoded JSON, or one stream event."""
        field = fields(item)
        kind = field("type")
        if kind == "message_start":
            _observe_message(call, get(item, "message"))
        elif kind == "content_block_delta":
            if call.output_text is not None:  # one message: its text blocks joined
                keep_text(call, 0, get(get(item, "delta"), "text"))
        elif kind == "message_delta":
            add_finish_reason(call, get(get(item, "delta"), "stop_reason"))
            _observe_usage(call, get(item, "usage"))
        elif kind == "message" or kind is None:
            _observe_message(call, item)
            add_finish_reason(call, field("stop_reason"))
            if call.output_text is not None:  # one message: its text blocks joined, tool uses apart
                for block in get(item, "content") or ():
                    keep_text(call, 0, get(block, "text"))
                    if get(block, "type") == "tool_use":
                        call.output_tools.setdefault(0, []).append(
                            {"id": get(block, "id"), "function": {"name": get(block, "name"),
                                                                  "arguments": json.dumps(get(block, "input"))}})
        keep_energy(call, item)

    def end_before_sdk(self, call: Any, stream: Any) -> None:
        end_before_sdk(call, stream)

    def _stream_helper(self, wrapped, instance, args, kwargs):
        manager = wrapped(*args, **kwargs)
        name = _request_attribute(manager)
        request = getattr(manager, name, None)
        if request is not None and begin.state.telemetry is not None:
            setattr(manager, name, lambda: run.run(
                self, "chat", lambda *_, **__: request(), instance, (), {**kwargs, "stream": True}))
        return manager

    def _async_stream_helper(self, wrapped, instance, args, kwargs):
        manager = wrapped(*args, **kwargs)
        name = _request_attribute(manager)
        request = getattr(manager, name, None)
        if request is not None and begin.state.telemetry is not None:
            async def made(*_, **__):  # the request was made up by stream(): no arguments
                return await request

            setattr(manager, name, run.arun(self, "chat", made, instance, (), {**kwargs, "stream": True}))
        return manager


def _request_attribute(manager: Any) -> str:
    """The stream manager's private request (`MessageStreamManager`, `BetaAsyncMessageStreamManager`...)."""
    return f"_{type(manager).__name__.lstrip('_')}__api_request"


def _observe_message(call: Any, message: Any) -> None:
    if message is None:
        return
    field = fields(message)
    if call.response_id is None:
        call.response_id = field("id")
        call.response_model = field("model")
    _observe_usage(call, field("usage"))


def _observe_usage(call: Any, usage: Any) -> None:
    if usage is None:
        return
    get = fields(usage)
    cache_read, cache_write = get("cache_read_input_tokens"), get("cache_creation_input_tokens")
    if cache_read is not None:
        call.cache_read_tokens = cache_read
    if cache_write is not None:
        call.cache_write_tokens = cache_write
    uncached = get("input_tokens")
    if type(uncached) is int:
        # The GenAI conventions count every input token; Anthropic reports cache reads apart.
        cached = call.cache_read_tokens if type(call.cache_read_tokens) is int else 0
        written = call.cache_write_tokens if type(call.cache_write_tokens) is int else 0
        call.input_tokens = uncached + cached + written
    output = get("output_tokens")
    if output is not None:
        call.output_tokens = output


ADAPTER = AnthropicMessages()
