"""The Anthropic Messages API on `/v1/messages`: every call path records the exact energy the
server sent, on exactly one span, whether anthropic's own tracing is on (our attributes go on
its span) or off (the call gets our span)."""

import gc

import anthropic  # optional for users; the [test] extra installs it
import pytest
from conftest import energy_attributes, faults, header_cost_attributes, neuralwatt_attributes
from opentelemetry.trace import StatusCode

MODEL = "moonshotai/Kimi-K2.6"
MESSAGES = [{"role": "user", "content": "How much energy does this answer use?"}]
SDK_SCOPE = "com.anthropic.sdk.python"


@pytest.fixture(params=["sdk-tracing-off", "sdk-tracing-on"])
def tracing(request, telemetry):
    """anthropic's own tracing: off, or on and exporting to the test's tracer provider."""
    return False if request.param == "sdk-tracing-off" else {"tracer_provider": telemetry.tracer_provider}


@pytest.fixture
def client(emulator, tracing):
    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="sk-test-secret", max_retries=0,
                             open_telemetry=tracing) as made:
        yield made


@pytest.fixture
async def aclient(emulator, tracing):
    async with anthropic.AsyncAnthropic(base_url=emulator.base_url[:-3], api_key="sk-test-secret", max_retries=0,
                                        open_telemetry=tracing) as made:
        yield made


def the_span(telemetry, tracing):
    """Exactly one span for the call: anthropic's when its tracing is on, else ours."""
    (span,) = telemetry.spans()
    assert (span.instrumentation_scope.name == SDK_SCOPE) == bool(tracing)
    return span


def assert_call_recorded(telemetry, tracing, exchange, stream=False):
    span = the_span(telemetry, tracing)
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.provider.name"] == "neuralwatt"
    assert span.attributes["neuralwatt.api"] == "messages"
    assert span.attributes["gen_ai.request.model"] == MODEL
    assert span.attributes["gen_ai.response.id"] == exchange.response_id
    assert span.attributes["gen_ai.response.model"] == exchange.model
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert span.attributes["gen_ai.usage.input_tokens"] == exchange.usage["input_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == exchange.usage["output_tokens"]
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert span.attributes["gen_ai.usage.cache_write.input_tokens"] == 0  # the current name
    assert "gen_ai.usage.cache_creation.input_tokens" not in span.attributes  # the name before it
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert span.status.status_code is not StatusCode.ERROR
    assert exchange.stream is stream
    # The metric counts the call once, whoever owns the span.
    assert telemetry.count("neuralwatt.energy") == 1
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]
    assert telemetry.total("neuralwatt.cost") == exchange.cost["request_cost_usd"]


def create(client, **extra):
    return client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, **extra)


def test_create(telemetry, tracing, client, emulator):
    message = create(client)

    exchange = emulator.exchanges[-1]
    assert message.id == exchange.response_id
    assert message.model_extra["energy"] == exchange.energy  # the user's response is untouched
    assert_call_recorded(telemetry, tracing, exchange)


def test_create_stream_read_to_the_end(telemetry, tracing, client, emulator):
    events = [event.type for event in create(client, stream=True)]

    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


def test_stream_helper(telemetry, tracing, client, emulator):
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    exchange = emulator.exchanges[-1]
    assert final.id == exchange.response_id and text == final.content[0].text
    assert_call_recorded(telemetry, tracing, exchange, stream=True)


def test_with_raw_response(telemetry, tracing, client, emulator):
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=1024, messages=MESSAGES)

    assert raw.parse().id == emulator.exchanges[-1].response_id
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1])


def test_with_raw_response_stream(telemetry, tracing, client, emulator):
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True)
    events = list(raw.parse())

    assert events[-1].type == "message_stop"
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


def test_with_streaming_response(telemetry, tracing, client, emulator):
    with client.messages.with_streaming_response.create(
            model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True) as response:
        events = list(response.parse())

    assert events[-1].type == "message_stop"
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


def test_stream_left_early_ends_its_span_without_inventing_energy(telemetry, tracing, client, emulator):
    gc.disable()
    try:
        with create(client, stream=True) as stream:
            for index, _ in enumerate(stream):
                if index == 2:
                    break
        span = the_span(telemetry, tracing)  # ended when the `with` exited, not by the GC
    finally:
        gc.enable()
    assert span.attributes["gen_ai.response.id"] == emulator.exchanges[-1].response_id
    # No energy is invented; the cost the response headers stated is recorded.
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])
    assert telemetry.count("neuralwatt.energy") == 0


def test_error_is_recorded_once(telemetry, tracing, client):
    with pytest.raises(anthropic.AuthenticationError):
        create(client, extra_headers=faults("http-401"))

    span = the_span(telemetry, tracing)
    assert span.status.status_code is StatusCode.ERROR
    # anthropic's span names the error its own way; ours by the exception's class.
    assert span.attributes["error.type"] == ("authentication_error" if tracing else "AuthenticationError")
    (point_attributes,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point_attributes)["error.type"] == "AuthenticationError"


async def test_async_create(telemetry, tracing, aclient, emulator):
    message = await aclient.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)

    assert message.id == emulator.exchanges[-1].response_id
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1])


async def test_async_create_stream(telemetry, tracing, aclient, emulator):
    stream = await aclient.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True)
    events = [event.type async for event in stream]

    assert events[-1] == "message_stop"
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


async def test_async_stream_helper(telemetry, tracing, aclient, emulator):
    async with aclient.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
        text = "".join([piece async for piece in stream.text_stream])

    assert text.startswith("Energy is measured")
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


async def test_async_with_raw_response_stream(telemetry, tracing, aclient, emulator):
    raw = await aclient.messages.with_raw_response.create(model=MODEL, max_tokens=1024, messages=MESSAGES,
                                                          stream=True)
    events = [event async for event in await raw.parse()]

    assert events[-1].type == "message_stop"
    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


@pytest.mark.parametrize("fault", ["energy-in-data", "crlf", "split-comment", "keepalive"])
def test_wire_variants_of_a_stream(telemetry, tracing, client, emulator, fault):
    list(create(client, stream=True, extra_headers=faults(fault)))

    assert_call_recorded(telemetry, tracing, emulator.exchanges[-1], stream=True)


def test_an_unlisted_host_gets_no_span_but_its_energy_counts(telemetry, emulator):
    # localhost is not listed (the fixture lists 127.0.0.1:port): anthropic's own span only.
    with anthropic.Anthropic(base_url=f"http://localhost:{emulator.port}", api_key="k", max_retries=0,
                             open_telemetry=False) as other:
        create(other)

    assert telemetry.spans() == []
    assert telemetry.total("neuralwatt.energy") == emulator.exchanges[-1].energy["energy_joules"]


AFTER_INSTRUMENT = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

exporter, provider = InMemorySpanExporter(), TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with NeuralwattEmulator(seed=1) as emulator:
    NeuralwattInstrumentor().instrument(tracer_provider=provider, hosts=[f"127.0.0.1:{emulator.port}"])
    assert "anthropic" not in sys.modules
    import anthropic

    client = anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", open_telemetry=False)
    client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    (span,) = exporter.get_finished_spans()
    print(span.attributes["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"])
"""

WITHOUT_ANTHROPIC = """
import sys
sys.modules["anthropic"] = None  # as if it were not installed: importing it raises ImportError
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

exporter, provider = InMemorySpanExporter(), TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with NeuralwattEmulator(seed=1) as emulator:
    NeuralwattInstrumentor().instrument(tracer_provider=provider, hosts=[f"127.0.0.1:{emulator.port}"])
    client = openai.OpenAI(base_url=emulator.base_url, api_key="k")
    list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    (span,) = exporter.get_finished_spans()
    print(span.attributes["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"])
"""


@pytest.mark.parametrize("script", [AFTER_INSTRUMENT, WITHOUT_ANTHROPIC], ids=["imported-later", "not-installed"])
def test_anthropic_is_optional_and_instrumented_whenever_it_is_imported(script):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_the_example_runs_against_the_emulator():
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "anthropic_messages.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in __import__("os").environ.items() if k != "NEURALWATT_API_KEY"})

    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("anthropic.messages.create")]
    assert len(rows) == 2 and all(line.endswith(" J") for line in rows)
