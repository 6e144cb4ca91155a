"""A non-streaming call gets one CLIENT span with the GenAI attributes and exactly the energy
and cost the server put in the JSON body."""

import pytest
from conftest import MESSAGES, MODEL, energy_attributes, helpers, neuralwatt_attributes
from opentelemetry.trace import SpanKind, StatusCode


def assert_chat_span(span, exchange, port):
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "neuralwatt"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == exchange.model
    assert attributes["gen_ai.response.id"] == exchange.response_id
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == exchange.usage["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == exchange.usage["completion_tokens"]
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == port
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


def test_chat_completion_span_carries_the_servers_energy(telemetry, client, emulator):
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=20, temperature=0.5)

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert_chat_span(span, exchange, emulator.port)
    assert span.attributes["gen_ai.request.max_tokens"] == 20
    assert span.attributes["gen_ai.request.temperature"] == 0.5
    assert span.attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]
    # the user's response is untouched, energy included
    assert response.model_extra["energy"] == exchange.energy


def test_request_parameters_as_sent(telemetry, client, emulator):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=20, top_p=0.9, seed=7, n=1,
                                   presence_penalty=0.25)

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert (attributes["gen_ai.request.top_p"], attributes["gen_ai.request.seed"]) == (0.9, 7)
    assert (attributes["gen_ai.request.choice.count"], attributes["gen_ai.request.presence_penalty"]) == (1, 0.25)


@pytest.mark.parametrize("order", ["max_tokens first", "max_completion_tokens first"])
def test_max_completion_tokens_wins_over_max_tokens_in_any_order(order):
    from opentelemetry_instrumentation_neuralwatt.sdk.adapter import request_attributes

    given = {"max_tokens": 20, "max_completion_tokens": 30}
    kwargs = {"model": MODEL, **(given if order == "max_tokens first" else dict(reversed(given.items())))}

    assert request_attributes("chat_completions", "chat", MODEL, "h", 443, kwargs)["gen_ai.request.max_tokens"] == 30


async def test_async_chat_completion_span_carries_the_servers_energy(telemetry, aclient, emulator):
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)

    exchange = emulator.exchanges[-1]
    assert_chat_span(telemetry.span(), exchange, emulator.port)
    assert response.id == exchange.response_id


def test_legacy_completion_is_a_text_completion_span(telemetry, client, emulator):
    client.completions.create(model=MODEL, prompt="Say something green", max_tokens=5)

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert span.name == f"text_completion {MODEL}"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert span.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


async def test_async_legacy_completion(telemetry, aclient, emulator):
    await aclient.completions.create(model=MODEL, prompt="Say something green", max_tokens=3)

    exchange = emulator.exchanges[-1]
    assert telemetry.span().attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]


def test_embeddings_span(telemetry, client, emulator):
    response = client.embeddings.create(model="BAAI/bge-m3", input=["one two three", "four"])

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert span.name == "embeddings BAAI/bge-m3"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 4
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert len(response.data) == 2


async def test_async_embeddings_span(telemetry, aclient, emulator):
    await aclient.embeddings.create(model="BAAI/bge-m3", input="five six")

    exchange = emulator.exchanges[-1]
    assert neuralwatt_attributes(telemetry.span()) == energy_attributes(exchange.energy, exchange.cost)


def test_structured_parse_is_a_chat_span(telemetry, client, emulator):
    helpers(client).parse(model=MODEL, messages=MESSAGES)

    exchange = emulator.exchanges[-1]
    assert telemetry.span().attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]


def test_with_raw_response_keeps_headers_and_parse(telemetry, client, emulator):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)

    assert raw.headers["content-type"] == "application/json"
    completion = raw.parse()
    exchange = emulator.exchanges[-1]
    assert completion.id == exchange.response_id
    assert neuralwatt_attributes(telemetry.span()) == energy_attributes(exchange.energy, exchange.cost)


def test_raw_response_never_parsed_still_records_energy(telemetry, client, emulator):
    client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)

    exchange = emulator.exchanges[-1]
    assert telemetry.span().attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]


def test_with_streaming_response_non_streaming_call(telemetry, client, emulator):
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        assert response.headers["content-type"] == "application/json"
        completion = response.parse()

    exchange = emulator.exchanges[-1]
    assert completion.id == exchange.response_id
    assert telemetry.span().attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]


async def test_async_with_streaming_response(telemetry, aclient, emulator):
    async with aclient.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        completion = await response.parse()

    exchange = emulator.exchanges[-1]
    assert completion.id == exchange.response_id
    assert telemetry.span().attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]
