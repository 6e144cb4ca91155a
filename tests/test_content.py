"""Opt-in message content in the current GenAI schema: role + parts, system instructions and tool
definitions apart, tool calls as parts, bounded; and nothing of it without the opt-in."""

import json

import anthropic
import pytest
from conftest import MODEL

from opentelemetry_instrumentation_neuralwatt.telemetry.content import MAX_ATTRIBUTE_CHARS, MAX_TEXT_CHARS

TOOLS = [{"type": "function", "function": {"name": "read_meter", "description": "Read the GPU power meter",
                                           "parameters": {"type": "object", "properties": {}}}}]
CONVERSATION = [
    {"role": "system", "content": "Answer in joules."},
    {"role": "user", "content": "How much energy?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "read_meter", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_0", "content": "412 W"},
    {"role": "user", "content": "And now?"},
]


def attribute(span, name):
    return json.loads(span.attributes[name])


def test_input_messages_are_role_and_parts_with_the_system_message_apart(capturing, client):
    client.chat.completions.create(model=MODEL, messages=CONVERSATION[:2] + CONVERSATION[4:])

    span = capturing.span()
    assert attribute(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Answer in joules."}]
    assert attribute(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "How much energy?"}]},
        {"role": "user", "parts": [{"type": "text", "content": "And now?"}]}]
    assert "gen_ai.tool.definitions" not in span.attributes


def test_tool_calls_and_their_responses_are_parts(capturing, client):
    client.chat.completions.create(model=MODEL, messages=CONVERSATION, tools=TOOLS)

    messages = attribute(capturing.span(), "gen_ai.input.messages")
    assert messages[1] == {"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_0", "name": "read_meter", "arguments": "{}"}]}
    assert messages[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_0",
                                                      "response": "412 W"}]}
    assert attribute(capturing.span(), "gen_ai.tool.definitions") == [
        {"type": "function", "name": "read_meter", "description": "Read the GPU power meter",
         "parameters": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_answer_that_calls_a_tool_has_it_as_a_part_with_its_finish_reason(capturing, client, stream):
    result = client.chat.completions.create(model=MODEL, messages=CONVERSATION[:2], tools=TOOLS, stream=stream)
    list(result) if stream else None

    assert attribute(capturing.span(), "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "read_meter", "arguments": "{}"}],
         "finish_reason": "tool_calls"}]


async def test_async_text_answer(capturing, aclient):
    stream = await aclient.chat.completions.create(model=MODEL, messages=CONVERSATION[1:2], stream=True, max_tokens=2)
    [chunk async for chunk in stream]

    assert attribute(capturing.span(), "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Energy is"}], "finish_reason": "length"}]


def test_sizes_are_bounded(capturing, client):
    huge = [{"role": "user", "content": f"{i} " + "w" * (MAX_TEXT_CHARS + 100)} for i in range(8)]
    client.chat.completions.create(model=MODEL, messages=huge, max_tokens=1)

    text = capturing.span().attributes["gen_ai.input.messages"]
    assert len(text) <= MAX_ATTRIBUTE_CHARS
    kept = json.loads(text)
    assert kept and all(len(m["parts"][0]["content"]) == MAX_TEXT_CHARS for m in kept)
    assert kept[-1]["parts"][0]["content"].startswith("7 ")  # the oldest are left out first


def test_anthropic_messages(capturing, emulator):
    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", open_telemetry=False) as client:
        client.messages.create(model=MODEL, max_tokens=2, system="Answer in joules.",
                               messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}])

    span = capturing.span()
    assert attribute(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Answer in joules."}]
    assert attribute(span, "gen_ai.input.messages") == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert attribute(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Energy is"}], "finish_reason": "max_tokens"}]


def test_nothing_of_it_without_the_opt_in(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=CONVERSATION, tools=TOOLS)

    names = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions")
    assert not set(names) & set(telemetry.span().attributes)


@pytest.mark.parametrize(("value", "captured"), [
    ("true", True), ("TRUE", True), ("SPAN_ONLY", True), ("span_and_event", True),
    ("false", False), ("NO_CONTENT", False), ("EVENT_ONLY", False),  # we put content on spans only, never events
    ("", False), ("yes-please", False),
])
def test_the_content_setting_means_what_it_means_to_util_genai(emulator, client, monkeypatch, caplog, value, captured):
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT takes util-genai's values (any case) and
    true/false; anything else captures nothing and says so."""
    from conftest import Telemetry

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    recorded, instrumentor = Telemetry(), NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, hosts=[f"127.0.0.1:{emulator.port}"])
    try:
        client.chat.completions.create(model=MODEL, messages=CONVERSATION[:2])
    finally:
        instrumentor.uninstrument()
    span = recorded.span()
    assert ("gen_ai.input.messages" in span.attributes) is captured
    assert ("gen_ai.output.messages" in span.attributes) is captured
    warned = [r for r in caplog.records if "CAPTURE_MESSAGE_CONTENT" in r.getMessage()]
    assert len(warned) == (1 if value == "yes-please" else 0)
