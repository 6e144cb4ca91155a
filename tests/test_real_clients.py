"""Paths real client code takes: anthropic's beta Messages (pydantic-ai, the SDK's tool runner), and
structured-output `.parse()` calls whose answer does not validate. Each gives one span per call with
the exact joules the server sent, and the user's result or exception is unchanged."""

import asyncio
import copy
import time

import anthropic
import httpx2
import openai
import pydantic
import pytest
from conftest import (
    CONNECTION_ERRORS,
    MESSAGES,
    MODEL,
    TIMEOUT_ERRORS,
    assert_valid_attributes,
    collect_garbage,
    energy_attributes,
    faults,
    helpers,
    neuralwatt_attributes,
)
from opentelemetry.trace import StatusCode

ANTHROPIC_MODEL = "moonshotai/Kimi-K2.6"
SDK_SCOPE = "com.anthropic.sdk.python"


class Verdict(pydantic.BaseModel):
    """What the emulator's plain-text answer is not: the parse fails after the whole answer came."""

    joules: float
    verdict: str


@pytest.fixture(params=["sdk-tracing-off", "sdk-tracing-on"])
def tracing(request, telemetry):
    return False if request.param == "sdk-tracing-off" else {"tracer_provider": telemetry.tracer_provider}


def assert_one_span_with_the_energy(telemetry, emulator, tracing=None, error=None):
    (span,) = telemetry.spans()
    if tracing is not None:
        assert (span.instrumentation_scope.name == SDK_SCOPE) == bool(tracing)
    (exchange,) = emulator.exchanges
    assert span.attributes["gen_ai.response.id"] == exchange.response_id
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    if error is not None:
        assert span.status.status_code is StatusCode.ERROR
        if not tracing:  # the SDK records its own span's error
            assert span.attributes["error.type"] == error.__qualname__
    assert telemetry.count("neuralwatt.energy") == 1
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]
    return span


def anthropic_client(emulator, tracing):
    return anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="sk-test", max_retries=0,
                               open_telemetry=tracing)


def test_anthropic_beta_create(telemetry, emulator, tracing):
    with anthropic_client(emulator, tracing) as client:
        message = client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
    assert message.id == emulator.exchanges[0].response_id
    assert_one_span_with_the_energy(telemetry, emulator, tracing)


def test_anthropic_beta_create_stream(telemetry, emulator, tracing):
    with anthropic_client(emulator, tracing) as client:
        events = list(client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES,
                                                  stream=True))
    assert events[-1].type == "message_stop"
    assert_one_span_with_the_energy(telemetry, emulator, tracing)


def test_anthropic_beta_stream_helper(telemetry, emulator, tracing):
    with anthropic_client(emulator, tracing) as client:
        with client.beta.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES) as stream:
            final = stream.get_final_message()
    assert final.id == emulator.exchanges[0].response_id
    assert_one_span_with_the_energy(telemetry, emulator, tracing)


async def test_anthropic_beta_async_create_and_stream(telemetry, emulator):
    async with anthropic.AsyncAnthropic(base_url=emulator.base_url[:-3], api_key="sk-test", max_retries=0,
                                        open_telemetry={"tracer_provider": telemetry.tracer_provider}) as client:
        await client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
        async with client.beta.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES) as stream:
            await stream.get_final_message()
    spans = telemetry.spans()
    assert [s.instrumentation_scope.name for s in spans] == [SDK_SCOPE, SDK_SCOPE]
    assert [s.attributes["neuralwatt.energy.joules"] for s in spans] == [
        e.energy["energy_joules"] for e in emulator.exchanges]


def test_chat_parse_that_fails_validation_keeps_its_energy(telemetry, client, emulator):
    with pytest.raises(pydantic.ValidationError):
        helpers(client).parse(model=MODEL, messages=MESSAGES, response_format=Verdict)
    span = assert_one_span_with_the_energy(telemetry, emulator, error=pydantic.ValidationError)
    assert span.attributes["gen_ai.usage.output_tokens"] == emulator.exchanges[0].usage["completion_tokens"]


async def test_async_chat_parse_that_fails_validation_keeps_its_energy(telemetry, aclient, emulator):
    with pytest.raises(pydantic.ValidationError):
        await helpers(aclient).parse(model=MODEL, messages=MESSAGES, response_format=Verdict)
    assert_one_span_with_the_energy(telemetry, emulator, error=pydantic.ValidationError)


@pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"), reason="this openai release predates the Responses API")
def test_responses_parse_that_fails_validation_keeps_its_energy(telemetry, client, emulator):
    emulator.responses_energy = True
    with pytest.raises(pydantic.ValidationError):
        client.responses.parse(model=MODEL, input="How much energy?", text_format=Verdict)
    assert_one_span_with_the_energy(telemetry, emulator, error=pydantic.ValidationError)


def test_anthropic_parse_that_fails_validation_keeps_its_energy(telemetry, emulator, tracing):
    with anthropic_client(emulator, tracing) as client:
        with pytest.raises(pydantic.ValidationError):
            client.messages.parse(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, output_format=Verdict)
    assert_one_span_with_the_energy(telemetry, emulator, tracing, error=pydantic.ValidationError)


# -- a stream that fails after its `: energy` line arrived keeps the joules --

def assert_failed_with_the_energy(telemetry, emulator, raised, tracing=None):
    (span,) = telemetry.spans()
    (exchange,) = emulator.exchanges
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert span.status.status_code is StatusCode.ERROR
    if not tracing:  # the SDK records its own span's error
        assert span.attributes["error.type"] == raised.type.__qualname__
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]


@pytest.mark.parametrize("fault", ["disconnect-after-energy", "stall-after-energy"])
def test_an_openai_stream_failing_after_its_energy_keeps_it(telemetry, emulator, fault):
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0, timeout=0.5) as client:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                extra_headers=faults(fault))
        with pytest.raises(CONNECTION_ERRORS + TIMEOUT_ERRORS) as raised:
            for _ in stream:
                pass
    assert_failed_with_the_energy(telemetry, emulator, raised)


async def test_an_async_openai_stream_failing_after_its_energy_keeps_it(telemetry, aclient, emulator):
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                   extra_headers=faults("disconnect-after-energy"))
    with pytest.raises(CONNECTION_ERRORS) as raised:
        async for _ in stream:
            pass
    assert_failed_with_the_energy(telemetry, emulator, raised)


async def test_an_async_stream_cancelled_after_its_energy_keeps_it(telemetry, aclient, emulator):
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                   extra_headers=faults("stall-after-energy"))

    async def read():
        async for _ in stream:
            pass

    task = asyncio.ensure_future(read())
    await asyncio.sleep(0.5)  # the answer and its energy are in; the server stalls
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert_failed_with_the_energy(telemetry, emulator, raised)


def test_an_anthropic_stream_failing_after_its_energy_keeps_it(telemetry, emulator, tracing):
    with anthropic_client(emulator, tracing) as client:
        stream = client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True,
                                        extra_headers=faults("disconnect-after-energy"))
        # anthropic runs on httpx2 whatever the openai release (whose errors CONNECTION_ERRORS name)
        with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError, *CONNECTION_ERRORS)) as raised:
            for _ in stream:
                pass
    assert_failed_with_the_energy(telemetry, emulator, raised, tracing)


# -- copies --

def test_a_dropped_copy_of_a_stream_does_not_end_the_call_of_the_original(telemetry, client, emulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    duplicate = copy.copy(stream)
    del duplicate
    collect_garbage()
    assert telemetry.spans() == []  # the original can still be read: its call is open

    chunks = list(stream)
    assert chunks[0].id == emulator.exchanges[0].response_id
    assert_one_span_with_the_energy(telemetry, emulator)


def test_dropping_the_original_and_its_copy_ends_the_call_once(telemetry, client, emulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    duplicate = copy.copy(stream)
    del stream
    collect_garbage()
    assert telemetry.spans() == []
    del duplicate
    collect_garbage()
    (span,) = telemetry.spans()  # ended once, without energy: nobody read to the `: energy` line
    assert "neuralwatt.energy.joules" not in span.attributes


# -- a whole (not streamed) response read through `with_streaming_response`, every way --

READS = {
    "read": lambda r: r.read(), "text": lambda r: r.text(), "json": lambda r: r.json(), "parse": lambda r: r.parse(),
    "iter_bytes": lambda r: list(r.iter_bytes()), "iter_text": lambda r: list(r.iter_text()),
    "iter_lines": lambda r: list(r.iter_lines()),
}


@pytest.mark.parametrize("read", list(READS))
def test_a_whole_streaming_response_keeps_its_energy_however_it_is_read(telemetry, client, emulator, read):
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        READS[read](response)
    assert_one_span_with_the_energy(telemetry, emulator)


async def test_an_async_whole_streaming_response_read_by_lines_keeps_its_energy(telemetry, aclient, emulator):
    async with aclient.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        lines = [line async for line in response.iter_lines()]
    assert lines
    assert_one_span_with_the_energy(telemetry, emulator)


@pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"), reason="this openai release predates the Responses API")
def test_a_whole_responses_streaming_response_read_by_lines_keeps_its_energy(telemetry, client, emulator):
    emulator.responses_energy = True
    with client.responses.with_streaming_response.create(model=MODEL, input="How much energy?") as response:
        list(response.iter_lines())
    assert_one_span_with_the_energy(telemetry, emulator)


def test_a_whole_anthropic_streaming_response_read_by_lines_keeps_its_energy(telemetry, emulator):
    with anthropic_client(emulator, False) as client:
        with client.messages.with_streaming_response.create(model=ANTHROPIC_MODEL, max_tokens=64,
                                                            messages=MESSAGES) as response:
            list(response.iter_lines())
    assert_one_span_with_the_energy(telemetry, emulator, tracing=False)


@pytest.mark.parametrize(("stream", "read"), [(False, "iter_lines"), (False, "json"), (False, "parse"),
                                              (True, "iter_lines"), (True, "parse")])
def test_an_anthropic_streaming_response_with_sdk_tracing_puts_the_energy_on_its_span(telemetry, emulator, stream,
                                                                                      read):
    with anthropic_client(emulator, {"tracer_provider": telemetry.tracer_provider}) as client:
        with client.messages.with_streaming_response.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES,
                                                            stream=stream) as response:
            result = READS[read](response)
            if read == "parse" and stream:
                list(result)
    assert_one_span_with_the_energy(telemetry, emulator, tracing=True)


# -- a stream helper that raises on an answer that does not validate --

def assert_one_error_span(telemetry, emulator, raised):
    """One span, ERROR with the helper's exception, the response it came from and the exact joules:
    the energy comes right after the last event, and the rest of the body is read (bounded) first."""
    (span,) = telemetry.spans()
    (exchange,) = emulator.exchanges
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == raised.type.__qualname__
    assert span.attributes["gen_ai.response.id"] == exchange.response_id
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]


def test_a_chat_stream_helper_failing_validation_is_an_error(telemetry, client, emulator):
    with pytest.raises(ValueError) as raised:  # jiter's or pydantic's, as the helper parses
        with helpers(client).stream(model=MODEL, messages=MESSAGES, response_format=Verdict) as stream:
            for _ in stream:
                pass
    assert_one_error_span(telemetry, emulator, raised)


async def test_an_async_chat_stream_helper_failing_validation_is_an_error(telemetry, aclient, emulator):
    with pytest.raises(ValueError) as raised:
        async with helpers(aclient).stream(model=MODEL, messages=MESSAGES, response_format=Verdict) as stream:
            async for _ in stream:
                pass
    assert_one_error_span(telemetry, emulator, raised)


def test_a_failing_stream_helper_is_not_held_by_a_server_that_stalls_after_its_energy(telemetry, client, emulator):
    """The rest of the body is read for a bounded time (rest.SECONDS), not until the
    server's 2 s stall ends: the user gets the exception at once, and the energy that had come."""
    started = time.monotonic()
    with pytest.raises(ValueError) as raised:
        with helpers(client).stream(model=MODEL, messages=MESSAGES, response_format=Verdict,
                                    extra_headers=faults("stall-after-energy")) as stream:
            for _ in stream:
                pass
    assert time.monotonic() - started < 1.5
    assert_one_error_span(telemetry, emulator, raised)


async def test_an_async_failing_stream_helper_is_not_held_by_a_server_that_stalls(telemetry, aclient, emulator):
    started = time.monotonic()
    with pytest.raises(ValueError) as raised:
        async with helpers(aclient).stream(model=MODEL, messages=MESSAGES, response_format=Verdict,
                                           extra_headers=faults("stall-after-energy")) as stream:
            async for _ in stream:
                pass
    assert time.monotonic() - started < 1.5
    assert_one_error_span(telemetry, emulator, raised)


@pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"), reason="this openai release predates the Responses API")
def test_a_responses_stream_helper_failing_validation_is_an_error(telemetry, client, emulator):
    emulator.responses_energy = True
    with pytest.raises(ValueError) as raised:
        with client.responses.stream(model=MODEL, input="How much energy?", text_format=Verdict) as stream:
            for _ in stream:
                pass
    assert_one_error_span(telemetry, emulator, raised)


def test_an_anthropic_stream_helper_failing_validation_is_an_error(telemetry, emulator, tracing):
    with anthropic_client(emulator, tracing) as client:
        with pytest.raises(ValueError) as raised:
            with client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES,
                                        output_format=Verdict) as stream:
                for _ in stream:
                    pass
    assert_one_error_span(telemetry, emulator, raised)


# -- a client middleware that reads the call's responses itself (anthropic's refusal fallback) --

def fallback_client(emulator, tracing, client_class=anthropic.Anthropic):
    return client_class(base_url=emulator.base_url[:-3], api_key="sk-test", max_retries=0, open_telemetry=tracing,
                        middleware=[anthropic.BetaRefusalFallbackMiddleware([{"model": "glm-5.2"}])])


def assert_one_span_with_every_hops_energy(telemetry, emulator, response_id):
    """One span; its energy is the sum of what the server reported for each request the
    middleware sent (a refused request was measured too), and so is the metric."""
    (span,) = telemetry.spans()
    joules = sum(exchange.energy["energy_joules"] for exchange in emulator.exchanges)
    assert span.attributes["gen_ai.response.id"] == response_id
    assert span.attributes["neuralwatt.energy.joules"] == joules
    assert span.attributes["neuralwatt.cost.request_cost_usd"] == sum(
        exchange.cost["request_cost_usd"] for exchange in emulator.exchanges)
    assert telemetry.count("neuralwatt.energy") == 1
    assert telemetry.total("neuralwatt.energy") == joules
    assert_valid_attributes(span)


@pytest.mark.parametrize("refused", [False, True], ids=["passed-through", "refused-then-fallback"])
def test_a_stream_a_middleware_splices_keeps_every_requests_energy(telemetry, emulator, tracing, refused):
    with fallback_client(emulator, tracing) as client:
        events = list(client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True,
                                                  extra_headers=faults("refusal") if refused else None))
    assert len(emulator.exchanges) == (2 if refused else 1)
    assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]
    assert events[-2].delta.stop_reason == "end_turn"  # the answer (the fallback's) reached the user
    # The spliced stream keeps the first request's message id.
    assert_one_span_with_every_hops_energy(telemetry, emulator, emulator.exchanges[0].response_id)


@pytest.mark.parametrize("refused", [False, True], ids=["passed-through", "refused-then-fallback"])
def test_a_whole_answer_a_middleware_retries_keeps_every_requests_energy(telemetry, emulator, tracing, refused):
    with fallback_client(emulator, tracing) as client:
        message = client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES,
                                              extra_headers=faults("refusal") if refused else None)
    assert [block.type for block in message.content] == (["fallback", "text"] if refused else ["text"])
    assert_one_span_with_every_hops_energy(telemetry, emulator, message.id)
    assert message.id == emulator.exchanges[-1].response_id


async def test_an_async_stream_a_middleware_splices_keeps_every_requests_energy(telemetry, emulator):
    async with fallback_client(emulator, False, anthropic.AsyncAnthropic) as client:
        stream = await client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES,
                                                   stream=True, extra_headers=faults("refusal"))
        events = [event async for event in stream]
    assert events[-2].delta.stop_reason == "end_turn"
    assert len(emulator.exchanges) == 2
    assert_one_span_with_every_hops_energy(telemetry, emulator, emulator.exchanges[0].response_id)


async def test_an_async_whole_answer_a_middleware_retries_keeps_every_requests_energy(telemetry, emulator):
    async with fallback_client(emulator, {"tracer_provider": telemetry.tracer_provider},
                               anthropic.AsyncAnthropic) as client:
        message = await client.beta.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES,
                                                    extra_headers=faults("refusal"))
    assert len(emulator.exchanges) == 2
    assert_one_span_with_every_hops_energy(telemetry, emulator, message.id)
