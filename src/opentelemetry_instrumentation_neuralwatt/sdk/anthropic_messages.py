"""Anthropic Messages API (`/v1/messages`) through the `anthropic` SDK.

Neuralwatt sends the same `energy`/`cost` body objects and `: energy`/`: cost` comments (after
`message_stop`) as on its openai-compatible endpoints. anthropic 2.x traces itself by default:
one CLIENT span per API call, current while the SDK makes the request, ended when the response
(or a stream's body) ends. One call must not get two GenAI spans, so when that span exists our
attributes go on it (`Invocation.adopt`) and are set before the SDK ends it; when it does not,
the call gets our own span as on openai.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry import trace

from ..call import begin, run
from ..call.invocation import pending
from ..call.run import async_wrapper, sync_wrapper
from ..call.stream_items import finish_stream
from ..telemetry import content
from .adapter import Adapter, add_finish_reason, get, keep_energy, keep_text, request_attributes
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
        # Where the SDK's own span is current: adopt it (`client_hooks.process_response_hook` then
        # reads whole responses before the SDK ends it).
        return targets + [
            (client, "SyncAPIClient._request", _adopt_sdk_span),
            (client, "AsyncAPIClient._request", _async_adopt_sdk_span),
        ]

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
        kind = get(item, "type")
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
            add_finish_reason(call, get(item, "stop_reason"))
            if call.output_text is not None:  # one message: its text blocks joined, tool uses apart
                for block in get(item, "content") or ():
                    keep_text(call, 0, get(block, "text"))
                    if get(block, "type") == "tool_use":
                        call.output_tools.setdefault(0, []).append(
                            {"id": get(block, "id"), "function": {"name": get(block, "name"),
                                                                  "arguments": json.dumps(get(block, "input"))}})
        keep_energy(call, item)

    def end_before_sdk(self, call: Any, stream: Any) -> None:
        """The SDK ends its span when the body of a stream (or of a raw or streaming response)
        ends (`stream_observer.end`), after the trailing `: energy` comment went through the
        decoder, or before the user read the body: end ours just before that."""
        response = getattr(stream, "response", None) or getattr(stream, "http_response", None)
        body = getattr(response, "stream", None)
        observer = getattr(body, "stream_observer", None)
        if body is not None and observer is not None and not isinstance(observer, _EndOursFirst):
            body.stream_observer = _EndOursFirst(observer, call)

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
    if call.response_id is None:
        call.response_id = get(message, "id")
        call.response_model = get(message, "model")
    _observe_usage(call, get(message, "usage"))


def _observe_usage(call: Any, usage: Any) -> None:
    if usage is None:
        return
    cache_read, cache_write = get(usage, "cache_read_input_tokens"), get(usage, "cache_creation_input_tokens")
    if cache_read is not None:
        call.cache_read_tokens = cache_read
    if cache_write is not None:
        call.cache_write_tokens = cache_write
    uncached = get(usage, "input_tokens")
    if type(uncached) is int:
        # The GenAI conventions count every input token; Anthropic reports cache reads apart.
        call.input_tokens = uncached + sum(n for n in (call.cache_read_tokens, call.cache_write_tokens)
                                           if type(n) is int)
    output = get(usage, "output_tokens")
    if output is not None:
        call.output_tokens = output


class _EndOursFirst:
    """The SDK's stream observer, with our call ended before the SDK's span is."""

    def __init__(self, inner: Any, call: Any) -> None:
        self.inner, self._call = inner, call
        self._held = False

    def __getattr__(self, name):  # begin, item and whatever a later SDK adds
        # Kept on the instance: `item` is asked for once per event, and a lookup that reaches
        # `__getattr__` costs more than the SDK's own work for the event.
        value = getattr(self.inner, name)
        setattr(self, name, value)
        return value

    def end(self, how: Any, error: Any = None) -> None:
        call = self._call
        if error is not None and not call.ended and not self._held:
            # The body failed: the bytes it had received are read on the way up (sse.py), after
            # this. Hold the SDK's end until our stream proxy has the error and ends the call.
            self._held = True
            call.on_end = lambda: self._end_sdk(how, error)
            return
        if error is None and not call.ended and (how == "read") != self._held:
            # The body reports "read" as soon as its last bytes arrive (and "closed" right after),
            # before the decoder has read the lines after the last blank line: a trailing
            # `: energy`. The stream reports "read" again once it has decoded everything. Hold
            # the SDK's end until then, or until our stream proxy ends the call.
            if not self._held:
                self._held = True
                call.on_end = lambda: self._end_sdk(how, None)
            return
        try:
            if error is not None:  # what the stream carried before it failed is kept
                call.finish(error)
            elif call.failing is not None:  # see _end_sdk
                call.finish(call.failing)
            else:
                finish_stream(call)
        except Exception:
            logger.debug("neuralwatt: could not end a call before the SDK's span", exc_info=True)
        self._end_sdk(how, error)

    def _end_sdk(self, how: Any, error: Any) -> None:
        if error is None and self._call.failing is not None:
            # A stream helper raised on an event, and the rest of the body was read for the energy
            # (stream_helpers.py): our call ended with the helper's error; the SDK hears what it
            # would have without that read, an application that stopped reading (which keeps the
            # ERROR status, where "read" would set OK).
            how = "closed"
        self.inner.end(how, error)  # the SDK's FirstEnd drops a second end


def _adopt(call: Any) -> None:
    if call.span is not None:  # ours already (the SDK's tracing is off): nothing to adopt
        return
    try:
        call.adopt(trace.get_current_span())
    except Exception:
        logger.debug("neuralwatt: could not adopt the SDK's span", exc_info=True)


def _adopt_sdk_span(wrapped, instance, args, kwargs):
    call = pending.get()
    if call is not None:
        _adopt(call)
    return wrapped(*args, **kwargs)


async def _async_adopt_sdk_span(wrapped, instance, args, kwargs):
    call = pending.get()
    if call is not None:
        _adopt(call)
    return await wrapped(*args, **kwargs)


ADAPTER = AnthropicMessages()
