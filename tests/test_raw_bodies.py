"""`with_streaming_response` read as bytes, text, JSON or lines instead of `.parse()`: the call
still gets exactly one span, ended by the time the block exits, with the energy the bytes carried;
the user gets exactly what the bare SDK gives."""

import gc
import json

import pytest
from conftest import MESSAGES, MODEL, energy_attributes, neuralwatt_attributes

USAGE = {"include_usage": True}


def assert_recorded(telemetry, exchange):
    span = telemetry.span()
    assert span.attributes["gen_ai.response.id"] == exchange.response_id
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]


@pytest.mark.parametrize("read", ["read", "text", "json"])
def test_a_whole_body_read_by_the_user(telemetry, client, emulator, read):
    gc.disable()
    try:
        with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
            body = getattr(response, read)()
        assert_recorded(telemetry, emulator.exchanges[-1])
    finally:
        gc.enable()
    text = body.decode() if read == "read" else body if read == "text" else json.dumps(body)
    assert emulator.exchanges[-1].response_id in text


@pytest.mark.parametrize("read", ["iter_lines", "iter_bytes", "iter_text", "read"])
def test_a_stream_read_as_raw_lines_or_bytes(telemetry, client, emulator, read):
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        pieces = getattr(response, read)()
        if read != "read":
            pieces = list(pieces)

    joined = pieces if read == "read" else (b"".join(pieces) if read == "iter_bytes" else "\n".join(pieces))
    assert "energy" in (joined.decode() if isinstance(joined, bytes) else joined)  # the bytes, untouched
    exchange = emulator.exchanges[-1]
    assert_recorded(telemetry, exchange)
    assert telemetry.span().attributes["gen_ai.usage.output_tokens"] == exchange.usage["completion_tokens"]


async def test_async_bodies(telemetry, aclient, emulator):
    async with aclient.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        await response.json()
    async with aclient.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True) as response:
        [line async for line in response.iter_lines()]

    for span, exchange in zip(telemetry.spans(), emulator.exchanges, strict=True):
        assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


def test_anthropic_raw_lines(telemetry, emulator):
    import anthropic

    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", open_telemetry=False) as client:
        with client.messages.with_streaming_response.create(model=MODEL, max_tokens=64, messages=MESSAGES,
                                                            stream=True) as response:
            list(response.iter_lines())

    exchange = emulator.exchanges[-1]
    assert_recorded(telemetry, exchange)
    assert telemetry.span().attributes["gen_ai.response.finish_reasons"] == ("end_turn",)


@pytest.mark.parametrize("read", ["iter_bytes", "iter_text"])
def test_an_endless_line_costs_bounded_memory_and_keeps_the_energy_before_it(telemetry, client, emulator, read):
    """One 200 MB line without a line end, read piece by piece: what we hold of it is bounded (a
    line is held up to 16 MiB, as a stream's comment lines are), the energy before it is kept."""
    import tracemalloc

    from conftest import faults

    tracemalloc.start()
    try:
        with client.chat.completions.with_streaming_response.create(
                model=MODEL, messages=MESSAGES, stream=True, extra_headers=faults("endless-line")) as response:
            size = 0
            for piece in getattr(response, read)():
                size += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > 200 << 20  # the user got every byte
    assert peak < 40 << 20, f"{peak / 2**20:.0f} MiB"  # 18 MiB; it was 400 MiB
    assert_recorded(telemetry, emulator.exchanges[-1])
