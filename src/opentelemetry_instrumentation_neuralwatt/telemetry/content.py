"""Opt-in message content in the GenAI conventions' current schema (role + parts).

Only used with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true. Input messages go to
`gen_ai.input.messages`, system messages apart to `gen_ai.system_instructions`, tools offered to
`gen_ai.tool.definitions`, the answer to `gen_ai.output.messages`; each is JSON. Bounded: a text
or arguments string keeps its first MAX_TEXT_CHARS characters, and a whole attribute at most
MAX_ATTRIBUTE_CHARS (the oldest messages are left out first).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI

MAX_TEXT_CHARS = 16_384
MAX_ATTRIBUTE_CHARS = 65_536
INPUT = GenAI.GEN_AI_INPUT_MESSAGES
OUTPUT = GenAI.GEN_AI_OUTPUT_MESSAGES
SYSTEM = GenAI.GEN_AI_SYSTEM_INSTRUCTIONS
TOOLS = GenAI.GEN_AI_TOOL_DEFINITIONS


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _text(value: Any) -> str:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) else json.dumps(value, default=str)[:MAX_TEXT_CHARS]


def text_parts(content: Any) -> list:
    """A message's content (a string, or a list of content blocks) as text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": _text(content)}]
    parts = []
    for block in content if isinstance(content, (list, tuple)) else [content]:
        kind = _get(block, "type")
        if kind in ("text", "input_text", "output_text") or isinstance(block, str):
            parts.append({"type": "text", "content": _text(block if isinstance(block, str) else _get(block, "text"))})
        elif kind == "tool_use":  # Anthropic: the model calls a tool
            parts.append({"type": "tool_call", "id": _get(block, "id"), "name": _get(block, "name"),
                          "arguments": _get(block, "input")})
        elif kind == "tool_result":  # Anthropic: the tool's answer
            parts.append({"type": "tool_call_response", "id": _get(block, "tool_use_id"),
                          "response": _text(_get(block, "content"))})
        else:  # images, audio, files: named, never their bytes
            parts.append({"type": str(kind or "unknown")})
    return parts


def tool_call_parts(tool_calls: Any) -> list:
    """openai `tool_calls` (a message's, or accumulated from a stream) as tool_call parts."""
    parts = []
    for call in tool_calls or ():
        function = _get(call, "function")
        parts.append({"type": "tool_call", "id": _get(call, "id"), "name": _get(function, "name"),
                      "arguments": _text(_get(function, "arguments") or "")})
    return parts


def chat_messages(messages: Any) -> tuple:
    """openai chat messages -> (system instruction parts, input messages)."""
    system, inputs = [], []
    for message in messages if isinstance(messages, (list, tuple)) else ():
        role = _get(message, "role")
        if role in ("system", "developer"):
            system += text_parts(_get(message, "content"))
        elif role == "tool":
            inputs.append({"role": "tool", "parts": [{"type": "tool_call_response", "id": _get(message, "tool_call_id"),
                                                      "response": _text(_get(message, "content"))}]})
        else:
            parts = text_parts(_get(message, "content")) + tool_call_parts(_get(message, "tool_calls"))
            inputs.append({"role": str(role), "parts": parts})
    return system, inputs


def tool_definitions(tools: Any) -> list:
    """The tools offered (openai `{"type": "function", "function": {...}}` or Anthropic's)."""
    definitions = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        function = _get(tool, "function") or tool
        definitions.append({"type": "function", "name": _get(function, "name"),
                            "description": _get(function, "description"),
                            "parameters": _get(function, "parameters") or _get(function, "input_schema")})
    return definitions


def bounded(values: list) -> str | None:
    """JSON of a list, leaving out its first entries until it fits; None when empty. Each entry is
    serialised once (linear in the list, however long the history)."""
    texts = [json.dumps(value, default=str) for value in values]
    size = sum(len(text) for text in texts) + 2 * len(texts)  # each entry and its ", ", or the brackets
    first = 0
    while first < len(texts) and size > MAX_ATTRIBUTE_CHARS:
        size -= len(texts[first]) + 2
        first += 1
    return "[" + ", ".join(texts[first:]) + "]" if first < len(texts) else None


class Text:
    """An answer's text as it streams in: pieces, kept until MAX_TEXT_CHARS (no copy per chunk)."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        if self.size < MAX_TEXT_CHARS:
            self.pieces.append(text)
            self.size += len(text)

    def __str__(self) -> str:
        return "".join(self.pieces)[:MAX_TEXT_CHARS]


def request_attributes(system: Iterable, inputs: list, tools: Any) -> dict:
    attributes = {}
    for name, values in ((SYSTEM, list(system)), (INPUT, inputs), (TOOLS, tool_definitions(tools))):
        text = bounded(values)
        if text is not None:
            attributes[name] = text
    return attributes


def output_messages(call: Any) -> str | None:
    """The answer: per choice, its text and tool calls as parts, with its finish reason."""
    messages = []
    for index in sorted(set(call.output_text or ()) | set(call.output_tools or ())):
        text = str(call.output_text.get(index) or "")
        parts = text_parts(text) if text else []
        parts += tool_call_parts(call.output_tools.get(index) if call.output_tools else None)
        reasons = call.finish_reasons or ()
        reason = reasons[index] if index < len(reasons) else (reasons[-1] if reasons else None)
        messages.append({"role": "assistant", "parts": parts, "finish_reason": reason})
    return bounded(messages)
