"""The openai Responses API on `/v1/responses`: one span per call with model, id, usage
(cached and reasoning tokens included), and the energy when the server sends it."""

import json
import logging

import pytest
from conftest import energy_attributes, header_cost_attributes, neuralwatt_attributes

MODEL = "openai/gpt-oss-20b"
INPUT = "How much energy does this answer use?"


@pytest.fixture
def with_energy(emulator):
    emulator.responses_energy = True  # as Neuralwatt would once it reports energy here
    return emulator


def assert_call_recorded(telemetry, exchange, energy=True):
    span = telemetry.span()
    assert span.name == f"chat {MODEL}"
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["neuralwatt.api"] == "responses"
    assert span.attributes["gen_ai.response.id"] == exchange.response_id
    assert span.attributes["gen_ai.response.model"] == exchange.model
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.input_tokens"] == exchange.usage["input_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == exchange.usage["output_tokens"]
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 0
    if energy:
        assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
        assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]
    else:
        assert exchange.energy is None
        assert neuralwatt_attributes(span) == header_cost_attributes(exchange)
        assert telemetry.count("neuralwatt.energy") == 0


def test_create(telemetry, client, with_energy):
    response = client.responses.create(model=MODEL, input=INPUT)

    assert response.id == with_energy.exchanges[-1].response_id
    assert_call_recorded(telemetry, with_energy.exchanges[-1])


def test_without_energy_nothing_is_invented_and_nothing_warns(telemetry, client, emulator, caplog):
    with caplog.at_level(logging.WARNING):
        client.responses.create(model=MODEL, input=INPUT)
        list(client.responses.create(model=MODEL, input=INPUT, stream=True))

    assert [r for r in caplog.records if r.name.startswith("opentelemetry_instrumentation_neuralwatt")] == []
    spans = telemetry.spans()
    assert len(spans) == 2
    assert [neuralwatt_attributes(span) for span in spans] == [header_cost_attributes(e) for e in emulator.exchanges]
    assert telemetry.count("neuralwatt.energy") == 0


def test_create_stream(telemetry, client, with_energy):
    events = [event.type for event in client.responses.create(model=MODEL, input=INPUT, stream=True)]

    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert_call_recorded(telemetry, with_energy.exchanges[-1])


def test_stream_helper(telemetry, client, with_energy):
    with client.responses.stream(model=MODEL, input=INPUT) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()

    assert final.id == with_energy.exchanges[-1].response_id
    assert_call_recorded(telemetry, with_energy.exchanges[-1])


def test_with_raw_response(telemetry, client, with_energy):
    raw = client.responses.with_raw_response.create(model=MODEL, input=INPUT)

    assert raw.parse().output_text.startswith("Energy is measured")
    assert_call_recorded(telemetry, with_energy.exchanges[-1])


def test_with_streaming_response(telemetry, client, with_energy):
    with client.responses.with_streaming_response.create(model=MODEL, input=INPUT, stream=True) as response:
        events = list(response.parse())

    assert events[-1].type == "response.completed"
    assert_call_recorded(telemetry, with_energy.exchanges[-1])


async def test_async_create(telemetry, aclient, with_energy):
    await aclient.responses.create(model=MODEL, input=INPUT)

    assert_call_recorded(telemetry, with_energy.exchanges[-1])


async def test_async_create_stream(telemetry, aclient, with_energy):
    stream = await aclient.responses.create(model=MODEL, input=INPUT, stream=True)
    events = [event.type async for event in stream]

    assert events[-1] == "response.completed"
    assert_call_recorded(telemetry, with_energy.exchanges[-1])


async def test_async_stream_helper(telemetry, aclient, with_energy):
    async with aclient.responses.stream(model=MODEL, input=INPUT) as stream:
        async for _ in stream:
            pass

    assert_call_recorded(telemetry, with_energy.exchanges[-1])


def test_incomplete_response_finishes_for_length(telemetry, client, emulator):
    client.responses.create(model=MODEL, input=INPUT, max_output_tokens=3)

    assert telemetry.span().attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert telemetry.span().attributes["gen_ai.request.max_tokens"] == 3


def test_content_capture_in_the_current_schema(capturing, client):
    client.responses.create(model=MODEL, input="Hi", instructions="Answer in joules.")

    span = capturing.span()
    assert json.loads(span.attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Answer in joules."}]
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    output = json.loads(span.attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"].startswith("Energy is measured") and output[0]["finish_reason"] == "stop"
