"""Streams: the `: energy` and `: cost` comments the SDK drops land on the stream's span, and
the span ends exactly once, with the right status, however the stream ends."""

import gc

import openai
import pytest
from conftest import (
    CONNECTION_ERRORS,
    MESSAGES,
    MODEL,
    collect_garbage,
    energy_attributes,
    faults,
    header_cost_attributes,
    helpers,
    httpx,
    neuralwatt_attributes,
)
from opentelemetry.trace import StatusCode

USAGE = {"include_usage": True}


def stream(client, **extra):
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE, **extra)


def assert_full_stream_span(span, exchange):
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"] == exchange.response_id
    assert span.attributes["gen_ai.response.model"] == exchange.model
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.input_tokens"] == exchange.usage["prompt_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == exchange.usage["completion_tokens"]
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


def test_exhausted_stream_span_has_the_energy_comment(telemetry, client, emulator):
    chunks = list(stream(client))

    exchange = emulator.exchanges[-1]
    assert len(chunks) == exchange.usage["completion_tokens"] + 3  # role, words, finish, usage
    assert_full_stream_span(telemetry.span(), exchange)


async def test_async_exhausted_stream_span_has_the_energy_comment(telemetry, aclient, emulator):
    response = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    )
    chunks = [chunk async for chunk in response]

    exchange = emulator.exchanges[-1]
    assert len(chunks) == exchange.usage["completion_tokens"] + 3
    assert_full_stream_span(telemetry.span(), exchange)


def test_legacy_completion_stream(telemetry, client, emulator):
    text = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt="hello", stream=True, max_tokens=4) if c.choices)

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert text == "Energy is measured on"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


def test_stream_object_behaves_like_the_sdks(telemetry, client):
    response = stream(client)

    assert isinstance(response, openai.Stream)
    assert isinstance(response.response, httpx.Response)
    assert response.response.headers["content-type"] == "text/event-stream"
    with response as entered:
        assert entered is response  # the user keeps our proxy inside `with`
        first = next(entered)
        assert first.choices[0].delta.role == "assistant"
        rest = list(entered)
    assert rest[-1].usage is not None
    assert len(telemetry.spans()) == 1


def test_breaking_out_of_with_ends_the_span_without_inventing_energy(telemetry, client, emulator):
    with stream(client) as response:
        for index, _ in enumerate(response):
            if index == 2:
                break
        assert telemetry.spans() == []  # still open: the stream is alive inside `with`

    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.response.id"] == emulator.exchanges[-1].response_id
    # No energy is invented; the cost the response headers stated is recorded.
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])


def test_close_ends_the_span_once(telemetry, client):
    response = stream(client)
    next(response)
    response.close()
    response.close()

    assert len(telemetry.spans()) == 1


def test_garbage_collected_stream_ends_the_span(telemetry, client):
    response = stream(client)
    next(response)
    del response
    collect_garbage()

    assert len(telemetry.spans()) == 1


def test_dropped_iterators_do_not_end_the_span(telemetry, client, emulator):
    response = stream(client)
    next(iter(response))
    for _ in response:
        break
    assert telemetry.spans() == []

    list(response)
    assert_full_stream_span(telemetry.span(), emulator.exchanges[-1])


def test_exhausted_then_closed_is_still_one_span(telemetry, client):
    with stream(client) as response:
        list(response)
        response.close()

    assert len(telemetry.spans()) == 1


def test_server_disconnect_mid_stream_is_an_error(telemetry, client, emulator):
    response = stream(client, extra_headers=faults("disconnect"))

    with pytest.raises(CONNECTION_ERRORS) as raised:
        list(response)

    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    # No energy came before the failure; the cost the response headers reported is kept.
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])
    assert telemetry.points("neuralwatt.energy") == {}


def test_error_event_mid_stream_is_an_error(telemetry, client):
    with pytest.raises(openai.APIError, match="emulated failure"):
        list(stream(client, extra_headers=faults("stream-error")))

    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "APIError"


async def test_async_break_out_of_async_with(telemetry, aclient, emulator):
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async with response as entered:
        assert entered is response
        async for _ in entered:
            break

    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])


async def test_async_aclose_and_close_end_the_span_once(telemetry, aclient):
    first = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    await first.__anext__()
    await (first.aclose() if hasattr(openai.AsyncStream, "aclose") else first.close())  # aclose: openai >= 1.5x
    second = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    await second.close()
    await second.close()

    assert len(telemetry.spans()) == 2


async def test_async_garbage_collected_stream_ends_the_span(telemetry, aclient):
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    await response.__anext__()
    await response.response.aclose()  # release the connection; the SDK does not on GC either
    del response
    collect_garbage()

    assert len(telemetry.spans()) == 1


async def test_async_disconnect_is_an_error(telemetry, aclient):
    response = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=faults("disconnect")
    )
    with pytest.raises(CONNECTION_ERRORS) as raised:
        async for _ in response:
            pass

    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__


def test_with_raw_response_stream_keeps_headers_and_gets_energy(telemetry, client, emulator):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    )
    assert raw.headers["content-type"] == "text/event-stream"
    parsed = raw.parse()
    assert raw.parse() is parsed
    list(parsed)

    assert_full_stream_span(telemetry.span(), emulator.exchanges[-1])


def test_temporary_raw_response_collected_after_parse_keeps_the_span_open(telemetry, client, emulator):
    response = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    ).parse()
    collect_garbage()
    assert telemetry.spans() == []

    list(response)
    assert_full_stream_span(telemetry.span(), emulator.exchanges[-1])


async def test_async_with_raw_response_stream(telemetry, aclient, emulator):
    raw = await aclient.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    )
    assert raw.headers["content-type"] == "text/event-stream"
    async for _ in raw.parse():
        pass

    assert_full_stream_span(telemetry.span(), emulator.exchanges[-1])


def test_with_streaming_response_stream(telemetry, client, emulator):
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE
    ) as response:
        for _ in response.parse():
            pass

    assert_full_stream_span(telemetry.span(), emulator.exchanges[-1])


def test_with_streaming_response_closed_unparsed_ends_the_span(telemetry, client):
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES, stream=True):
        pass

    assert neuralwatt_attributes(telemetry.span()) == {}


def test_chat_completions_stream_helper(telemetry, client, emulator):
    with helpers(client).stream(model=MODEL, messages=MESSAGES, stream_options=USAGE) as events:
        final = events.get_final_completion()

    exchange = emulator.exchanges[-1]
    assert final.choices[0].message.content.startswith("Energy is measured")
    assert_full_stream_span(telemetry.span(), exchange)


async def test_async_chat_completions_stream_helper(telemetry, aclient, emulator):
    async with helpers(aclient).stream(model=MODEL, messages=MESSAGES, stream_options=USAGE) as events:
        await events.get_final_completion()

    assert_full_stream_span(telemetry.span(), emulator.exchanges[-1])


def test_stream_duration_covers_the_whole_stream(telemetry, client, emulator):
    list(stream(client, extra_headers=faults("slow")))

    chunk_count = emulator.exchanges[-1].usage["completion_tokens"] + 3
    (point,) = telemetry.points("gen_ai.client.operation.duration").values()
    # the emulator sleeps 50 ms after each chunk: the duration includes every one of them
    assert point.sum >= 0.05 * chunk_count


def test_the_stream_helper_left_early_ends_its_span_when_the_with_exits(telemetry, client, emulator):
    gc.disable()
    try:
        with helpers(client).stream(model=MODEL, messages=MESSAGES) as events:
            for index, _ in enumerate(events):
                if index == 2:
                    break
            assert telemetry.spans() == []
        span = telemetry.span()  # ended by leaving the `with`, not by the garbage collector
    finally:
        gc.enable()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.response.id"] == emulator.exchanges[-1].response_id
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])


async def test_the_async_stream_helper_left_early_ends_its_span(telemetry, aclient, emulator):
    gc.disable()
    try:
        async with helpers(aclient).stream(model=MODEL, messages=MESSAGES) as events:
            async for _ in events:
                break
        span = telemetry.span()
    finally:
        gc.enable()
    assert span.attributes["gen_ai.response.id"] == emulator.exchanges[-1].response_id


def test_the_stream_helper_read_to_the_end_has_the_energy(telemetry, client, emulator):
    with helpers(client).stream(model=MODEL, messages=MESSAGES, stream_options=USAGE) as events:
        final = events.get_final_completion()

    exchange = emulator.exchanges[-1]
    assert final.id == exchange.response_id
    assert_full_stream_span(telemetry.span(), exchange)
