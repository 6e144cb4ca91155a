"""openai chat completions, legacy completions and embeddings (`/v1/chat/completions`, ...)."""

from __future__ import annotations

from typing import Any

from ..call.run import async_wrapper, sync_wrapper
from ..telemetry import content
from .adapter import MAX_LIST, Adapter, add_finish_reason, fields, get, keep_energy, keep_text, request_attributes
from .stream_helpers import async_helper_closed, async_helper_events, helper_closed, helper_events


class OpenAIChat(Adapter):
    api = "chat_completions"
    # Request paths, for calls that reach the SDK past our wrappers (see client_hooks).
    paths = (("/chat/completions", "chat"), ("/completions", "text_completion"), ("/embeddings", "embeddings"))

    def targets(self):
        chat, completions, embeddings = ("openai.resources.chat.completions", "openai.resources.completions",
                                          "openai.resources.embeddings")
        return [
            (chat, "Completions.create", sync_wrapper(self, "chat")),
            (chat, "AsyncCompletions.create", async_wrapper(self, "chat")),
            (chat, "Completions.parse", sync_wrapper(self, "chat")),
            (chat, "AsyncCompletions.parse", async_wrapper(self, "chat")),
            # openai before 1.92: `.parse()` lives in beta (and calls `create` itself).
            ("openai.resources.beta.chat.completions", "Completions.parse", sync_wrapper(self, "chat")),
            ("openai.resources.beta.chat.completions", "AsyncCompletions.parse", async_wrapper(self, "chat")),
            # The stream helpers close the HTTP response, not our stream: end its call there too.
            ("openai.lib.streaming.chat._completions", "ChatCompletionStream.close", helper_closed),
            ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream.close", async_helper_closed),
            ("openai.lib.streaming.chat._completions", "ChatCompletionStream.__stream__", helper_events),
            ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream.__stream__", async_helper_events),
            (completions, "Completions.create", sync_wrapper(self, "text_completion")),
            (completions, "AsyncCompletions.create", async_wrapper(self, "text_completion")),
            (embeddings, "Embeddings.create", sync_wrapper(self, "embeddings")),
            (embeddings, "AsyncEmbeddings.create", async_wrapper(self, "embeddings")),
        ]

    def request_attributes(self, operation, model, host, port, kwargs, capture_content):
        captured = None
        if capture_content:
            if "messages" in kwargs:
                system, inputs = content.chat_messages(kwargs["messages"])
            else:  # legacy completions' prompt, embeddings' input
                system, inputs = [], [{"role": "user", "parts": content.text_parts(
                    kwargs.get("prompt", kwargs.get("input")))}]
            captured = content.request_attributes(system, inputs, kwargs.get("tools"))
        return request_attributes(self.api, operation, model, host, port, kwargs, captured)

    @staticmethod
    def is_content(chunk: Any) -> bool:
        """A chunk with text or a tool call (not a role-only, empty or heartbeat delta)."""
        for choice in chunk.choices or ():
            delta = getattr(choice, "delta", None)
            if delta is None:  # legacy completions
                if getattr(choice, "text", None):
                    return True
            elif delta.content or delta.tool_calls:
                return True
        return False

    def observe(self, call: Any, chunk: Any) -> None:
        """One stream chunk or a whole response: the fast path reads an SDK model's attributes
        (it runs for every chunk); any other shape falls back to the general reader."""
        try:
            _observe_model(call, chunk)
        except (AttributeError, TypeError):  # not an SDK model, or `choices` that is no list
            _observe_any(call, chunk)


def _observe_model(call: Any, chunk: Any) -> None:
    # The top-level fields are read before anything is kept, so the fallback never counts a
    # finish reason twice.
    choices, usage = chunk.choices, chunk.usage
    if call.response_id is None:
        call.response_id = chunk.id
        call.response_model = chunk.model
    if call.service_tier is None:  # flex-tier streams say so on every chunk, heartbeats included
        call.service_tier = getattr(chunk, "service_tier", None)
    for choice in choices:
        if choice.finish_reason is not None:
            add_finish_reason(call, choice.finish_reason)
        if call.output_text is not None:
            _keep_output(call, choice)
    if usage is not None:
        call.input_tokens = usage.prompt_tokens
        call.output_tokens = usage.completion_tokens
        _usage_details(call, usage)
    extra = getattr(chunk, "__pydantic_extra__", None)
    if extra:  # a response's energy, or a server that puts it inside a data chunk
        keep_energy(call, extra)


def _observe_any(call: Any, chunk: Any) -> None:
    """Decoded JSON (a raw response's body) or an SDK object of another shape."""
    if call.response_id is None:
        call.response_id = get(chunk, "id")
        call.response_model = get(chunk, "model")
    choices = get(chunk, "choices")
    if isinstance(choices, (list, tuple)):
        for choice in choices[:MAX_LIST]:
            add_finish_reason(call, get(choice, "finish_reason"))
            if call.output_text is not None:
                _keep_output(call, choice)
    usage = get(chunk, "usage")
    if usage is not None:
        call.input_tokens = get(usage, "prompt_tokens")
        call.output_tokens = get(usage, "completion_tokens")
        _usage_details(call, usage)
    if call.service_tier is None:
        call.service_tier = get(chunk, "service_tier")
    keep_energy(call, chunk if isinstance(chunk, dict) else getattr(chunk, "__pydantic_extra__", None))


def _usage_details(call: Any, usage: Any) -> None:
    """Cache-read input tokens and reasoning output tokens, when the server reports them."""
    field = fields(usage)
    # An openai release that predates a details field keeps it among the model's extra keys (as a dict).
    extra = fields(getattr(usage, "__pydantic_extra__", None) or {})
    prompt = field("prompt_tokens_details") or extra("prompt_tokens_details")
    completion = field("completion_tokens_details") or extra("completion_tokens_details")
    call.cache_read_tokens = get(prompt, "cached_tokens")
    call.reasoning_tokens = get(completion, "reasoning_tokens")


def _keep_output(call: Any, choice: Any) -> None:
    message = get(choice, "delta") or get(choice, "message")
    text = get(message, "content") if message is not None else get(choice, "text")
    index = get(choice, "index")
    keep_text(call, index, text)
    tool_calls = get(message, "tool_calls") if message is not None else None
    if tool_calls:
        _keep_tool_calls(call, index if isinstance(index, int) else 0, tool_calls)


def _keep_tool_calls(call: Any, index: int, tool_calls: Any) -> None:
    """A whole message's tool calls, or a stream's pieces of them (joined by their index)."""
    kept = call.output_tools.get(index)
    if kept is None:
        if len(call.output_tools) >= MAX_LIST:  # a hostile answer's thousands of choices
            return
        kept = call.output_tools[index] = []
    for position, piece in enumerate(tool_calls):
        slot = get(piece, "index")
        slot = slot if isinstance(slot, int) else position
        while len(kept) <= slot and len(kept) < 128:
            kept.append({"id": None, "function": {"name": None, "arguments": ""}})
        if slot >= len(kept):
            continue
        tool, function = kept[slot], get(piece, "function")
        tool["id"] = get(piece, "id") or tool["id"]
        tool["function"]["name"] = get(function, "name") or tool["function"]["name"]
        arguments = get(function, "arguments")
        if isinstance(arguments, str) and len(tool["function"]["arguments"]) < content.MAX_TEXT_CHARS:
            tool["function"]["arguments"] += arguments


ADAPTER = OpenAIChat()
