"""Beside the official GenAI instrumentations (genai-openai, genai-anthropic, built on
opentelemetry-util-genai): one call has one GenAI span, theirs, and it carries the exact energy the
server sent; they record the `gen_ai.client.*` points (one duration point per call), we record the
`neuralwatt.*` ones in their span's context. Instrumented in either order; uninstrumenting either
leaves the other working."""

import json
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest
from conftest import MESSAGES, MODEL, Telemetry, energy_attributes, helpers, neuralwatt_attributes

# The [test] extra installs both (the lowest-versions run leaves this file out: they need newer floors).
from opentelemetry.instrumentation.genai import anthropic as genai_anthropic
from opentelemetry.instrumentation.genai import openai as genai_openai

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

ANTHROPIC_MODEL = "moonshotai/Kimi-K2.6"
SDK_SCOPE = "com.anthropic.sdk.python"


@pytest.fixture(params=["ours first", "theirs first"])
def both(request, emulator):
    """Our instrumentation and both official ones on the same providers, in the given order."""
    recorded = Telemetry()
    ours = NeuralwattInstrumentor()
    if ours.is_instrumented_by_opentelemetry:
        ours.uninstrument()
    theirs = [genai_openai.OpenAIInstrumentor(), genai_anthropic.AnthropicInstrumentor()]
    providers = {"tracer_provider": recorded.tracer_provider, "meter_provider": recorded.meter_provider}
    order = [ours, *theirs] if request.param == "ours first" else [*theirs, ours]
    for instrumentor in order:
        instrumentor.instrument(**providers, hosts=[f"127.0.0.1:{emulator.port}"])
    recorded.ours, recorded.theirs, recorded.providers = ours, theirs, providers
    yield recorded
    for instrumentor in order:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


@pytest.fixture
def with_energy(emulator):
    emulator.responses_energy = True  # the Responses API, as Neuralwatt would once it reports energy there


def assert_one_span_per_call(recorded, emulator, api="chat_completions", provider="openai"):
    """Each exchange has exactly one GenAI span, the official instrumentation's, with its exact energy."""
    spans = [s for s in recorded.spans()
             if "gen_ai.operation.name" in s.attributes and s.instrumentation_scope.name != SDK_SCOPE]
    assert len(spans) == len(emulator.exchanges)
    for span, exchange in zip(spans, emulator.exchanges, strict=True):
        assert span.instrumentation_scope.name.startswith("opentelemetry.instrumentation.genai.")
        assert span.attributes["gen_ai.provider.name"] == provider  # theirs: set when their span starts
        assert span.attributes["neuralwatt.api"] == api
        assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    # Ours, once per call, linked to their spans (exemplars: the last one per bucket, until collected).
    energy = recorded.points("neuralwatt.energy").values()
    assert sum(p.count for p in energy) == len(emulator.exchanges)
    assert sum(p.sum for p in energy) == pytest.approx(sum(e.energy["energy_joules"] for e in emulator.exchanges),
                                                       rel=1e-12)
    exemplar_spans = {e.span_id for p in energy for e in p.exemplars}
    assert exemplar_spans and exemplar_spans <= {s.context.span_id for s in spans}
    # Their points, not ours: one duration point per call, and it names the Neuralwatt API.
    durations = recorded.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations.values()) == len(emulator.exchanges)
    for attributes in durations:
        assert dict(attributes)["gen_ai.provider.name"] == provider
        assert dict(attributes)["neuralwatt.api"] == api


def chat_every_way(client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    return [chunk.id for chunk in stream]


def test_openai_chat_whole_and_streamed(both, emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0) as client:
        ids = chat_every_way(client)
        with helpers(client).stream(model=MODEL, messages=MESSAGES) as helper:
            helper.get_final_completion()
    assert ids[0] == emulator.exchanges[1].response_id
    assert_one_span_per_call(both, emulator)


async def test_openai_chat_async(both, emulator):
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0) as client:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert [chunk.id async for chunk in stream][0] == emulator.exchanges[1].response_id
    assert_one_span_per_call(both, emulator)


needs_responses = pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"),
                                     reason="this openai release predates the Responses API")


@needs_responses
def test_openai_responses(both, emulator, with_energy):
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0) as client:
        client.responses.create(model=MODEL, input="How much energy?")
        list(client.responses.create(model=MODEL, input="How much energy?", stream=True))
        with client.responses.stream(model=MODEL, input="How much energy?") as helper:
            helper.get_final_response()
    assert_one_span_per_call(both, emulator, api="responses")


@needs_responses
async def test_openai_responses_async(both, emulator, with_energy):
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0) as client:
        await client.responses.create(model=MODEL, input="How much energy?")
        stream = await client.responses.create(model=MODEL, input="How much energy?", stream=True)
        [event async for event in stream]
    assert_one_span_per_call(both, emulator, api="responses")


@pytest.mark.parametrize("sdk_tracing", [False, True], ids=["sdk-tracing-off", "sdk-tracing-on"])
def test_anthropic_messages(both, emulator, sdk_tracing):
    """genai-anthropic's span carries the energy; the anthropic SDK's own span, when its tracing
    is on, exists beside it as it does without us, and gets nothing of ours."""
    tracing = {"tracer_provider": both.tracer_provider} if sdk_tracing else False
    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="sk-test", max_retries=0,
                             open_telemetry=tracing) as client:
        client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
        list(client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True))
        with client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES) as stream:
            stream.get_final_message()
    sdk_spans = [s for s in both.spans() if s.instrumentation_scope.name == SDK_SCOPE]
    assert len(sdk_spans) == (3 if sdk_tracing else 0)
    assert not any(key.startswith("neuralwatt.") for span in sdk_spans for key in span.attributes)
    assert not any(s.attributes.get("gen_ai.provider.name") == "neuralwatt" for s in both.spans())
    assert_one_span_per_call(both, emulator, api="messages", provider="anthropic")


async def test_anthropic_messages_async(both, emulator):
    async with anthropic.AsyncAnthropic(base_url=emulator.base_url[:-3], api_key="sk-test", max_retries=0,
                                        open_telemetry=False) as client:
        await client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
        stream = await client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True)
        [event async for event in stream]
    assert_one_span_per_call(both, emulator, api="messages", provider="anthropic")


def test_uninstrumenting_either_leaves_the_other_working(both, emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0) as client:
        openai_official = both.theirs[0]
        openai_official.uninstrument()  # ours alone again: our own span, provider neuralwatt
        chat_every_way(client)
        spans = [s for s in both.spans() if "gen_ai.operation.name" in s.attributes]
        assert [s.attributes["gen_ai.provider.name"] for s in spans] == ["neuralwatt", "neuralwatt"]
        assert [s.attributes["neuralwatt.energy.joules"] for s in spans] == [
            e.energy["energy_joules"] for e in emulator.exchanges]
        assert both.count("gen_ai.client.operation.duration") == 2

        openai_official.instrument(**both.providers)
        both.ours.uninstrument()  # theirs alone: their span, nothing of ours
        chat_every_way(client)
        new = [s for s in both.spans() if "gen_ai.operation.name" in s.attributes][2:]
        assert [s.attributes["gen_ai.provider.name"] for s in new] == ["openai", "openai"]
        assert not any(k.startswith("neuralwatt.") for s in new for k in s.attributes)
        assert both.count("neuralwatt.energy") == 2
        assert both.count("gen_ai.client.operation.duration") == 4


# OpenLLMetry leaves its wrappers in place on uninstrument(), so it runs in a process of its own.
OPENLLMETRY_APP = """
import json, sys
sys.path.insert(0, sys.argv[2])
import openai
from conftest import MESSAGES, MODEL, Telemetry
from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

recorded = Telemetry()
providers = {"tracer_provider": recorded.tracer_provider, "meter_provider": recorded.meter_provider}
OpenLLMetry().instrument(**providers)
NeuralwattInstrumentor().instrument(**providers, hosts=[sys.argv[1].split("/")[2]])
with openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0) as client:
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
print(json.dumps({
    "spans": [{"scope": s.instrumentation_scope.name, "span_id": s.context.span_id,
               "parent": s.parent.span_id if s.parent else None, "attributes": dict(s.attributes)}
              for s in recorded.spans()],
    "energy_points": recorded.count("neuralwatt.energy"),
}, default=list))
"""


def test_beside_openllmetry_the_call_has_its_span_and_ours(emulator):
    """OpenLLMetry (opentelemetry-instrumentation-openai) does not use util-genai, so nothing tells
    us it records the call: the call has its span and ours, a child of it, which has the energy."""
    done = subprocess.run([sys.executable, "-c", OPENLLMETRY_APP, emulator.base_url, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    ours = [s for s in result["spans"] if s["scope"].startswith("opentelemetry_instrumentation_neuralwatt")]
    theirs = [s for s in result["spans"] if s not in ours]
    assert len(ours) == len(theirs) == 2
    for span, parent, exchange in zip(ours, theirs, emulator.exchanges, strict=True):
        assert span["parent"] == parent["span_id"]
        assert span["attributes"]["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]
        assert span["attributes"]["neuralwatt.cost.request_cost_usd"] == exchange.cost["request_cost_usd"]
        assert not any(key.startswith("neuralwatt.") for key in parent["attributes"])
    assert result["energy_points"] == 2
