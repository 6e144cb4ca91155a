"""Zero-code: `opentelemetry-instrument python app.py` finds the instrumentor through its entry
point, and the spans and metrics that reach a real OTLP receiver (HTTP and gRPC) carry exactly the
energy the emulator sent. It also coexists with the official GenAI OpenAI instrumentation."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MESSAGES, MODEL, Telemetry
from otlp_receiver import OtlpReceiver

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

APP = Path(__file__).parent / "apps" / "chat_app.py"
OPENTELEMETRY_INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


@pytest.fixture
def receiver():
    with OtlpReceiver() as running:
        yield running


def run_app(emulator, receiver, protocol, **extra_env):
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "NEURALWATT_"))}
    env.update({
        "NEURALWATT_API_BASE": emulator.base_url,
        "OTEL_SERVICE_NAME": "zero-code-app",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        **extra_env,
    })
    result = subprocess.run([str(OPENTELEMETRY_INSTRUMENT), sys.executable, str(APP)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def our_spans(receiver):
    return [s for s in receiver.spans if s["attributes"].get("gen_ai.provider.name") == "neuralwatt"]


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_opentelemetry_instrument_exports_the_exact_energy(emulator, receiver, protocol):
    response_ids = run_app(emulator, receiver, protocol)

    transport = "grpc" if protocol == "grpc" else "http"
    assert receiver.requests[transport] >= 2
    spans = our_spans(receiver)
    assert sorted(s["attributes"]["gen_ai.response.id"] for s in spans) == sorted(response_ids)
    for span in spans:
        exchange = emulator.exchange(span["attributes"]["gen_ai.response.id"])
        assert span["name"] == f"chat {MODEL}"
        assert span["kind"] == 3  # SPAN_KIND_CLIENT
        assert span["attributes"]["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]
        assert span["attributes"]["neuralwatt.energy.avg_power_watts"] == exchange.energy["avg_power_watts"]
        assert span["attributes"]["neuralwatt.cost.request_cost_usd"] == exchange.cost["request_cost_usd"]

    (energy,) = receiver.latest_points("neuralwatt.energy")
    assert energy["unit"] == "J"
    assert energy["count"] == 3
    assert energy["sum"] == pytest.approx(sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)
    (carbon,) = receiver.latest_points("neuralwatt.carbon")
    assert carbon["sum"] == pytest.approx(sum(e.energy["carbon_g_co2eq"] for e in emulator.exchanges), rel=1e-12)


def test_disabled_by_environment(emulator, receiver):
    run_app(emulator, receiver, "http/protobuf", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="neuralwatt")

    assert len(emulator.exchanges) == 3  # the app ran
    assert our_spans(receiver) == []
    assert receiver.latest_points("neuralwatt.energy") == []


def call_both_ways(client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    return chunks


@pytest.mark.parametrize("order", ["ours first", "official first"])
def test_coexists_with_the_official_genai_openai_instrumentation(emulator, client, order):
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor  # needs newer floors

    recorded = Telemetry()
    ours, official = NeuralwattInstrumentor(), OpenAIInstrumentor()
    if ours.is_instrumented_by_opentelemetry:
        ours.uninstrument()
    providers = {"tracer_provider": recorded.tracer_provider, "meter_provider": recorded.meter_provider}
    first, second = (ours, official) if order == "ours first" else (official, ours)
    first.instrument(**providers, hosts=[f"127.0.0.1:{emulator.port}"])
    second.instrument(**providers, hosts=[f"127.0.0.1:{emulator.port}"])
    try:
        chunks = call_both_ways(client)
        assert chunks[-1].usage is not None
        spans = [s for s in recorded.spans() if s.attributes.get("gen_ai.provider.name") == "neuralwatt"]
        assert [s.attributes["neuralwatt.energy.joules"] for s in spans] == [
            e.energy["energy_joules"] for e in emulator.exchanges]
        assert len(recorded.spans()) > len(spans)  # the official instrumentation made its own spans
        assert recorded.count("neuralwatt.energy") == 2

        official.uninstrument()  # ours keeps working
        call_both_ways(client)
        assert recorded.count("neuralwatt.energy") == 4

        official.instrument(**providers)
        ours.uninstrument()  # theirs keeps working, ours is gone
        before = len(recorded.spans())
        call_both_ways(client)
        new = recorded.spans()[before:]
        assert len(new) == 2
        assert all(s.attributes.get("gen_ai.provider.name") != "neuralwatt" for s in new)
        assert recorded.count("neuralwatt.energy") == 4
    finally:
        if official.is_instrumented_by_opentelemetry:
            official.uninstrument()
        if ours.is_instrumented_by_opentelemetry:
            ours.uninstrument()
