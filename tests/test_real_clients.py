"""Paths real client code takes: anthropic's beta Messages (pydantic-ai, the SDK's tool runner), and
structured-output `.parse()` calls whose answer does not validate. Each gives one span per call with
the exact joules the server sent, and the user's result or exception is unchanged."""

import anthropic
import openai
import pydantic
import pytest
from conftest import MESSAGES, MODEL, energy_attributes, helpers, neuralwatt_attributes
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
