"""Zero-code: `opentelemetry-instrument python app.py` finds the instrumentor through its entry
point, and the spans and metrics that reach a real OTLP receiver (HTTP and gRPC) carry exactly the
energy the emulator sent, on one span per call, whatever other GenAI instrumentations are installed
beside ours (see test_beside_genai.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODEL
from otlp_receiver import OtlpReceiver

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


def energy_spans(receiver):
    """The spans that carry energy: ours, or the official genai-openai instrumentation's when the
    test environment has it (opentelemetry-instrument loads every installed instrumentor, OpenLLMetry
    too, whose spans we do not enrich); exactly one per call either way."""
    return [s for s in receiver.spans if "neuralwatt.energy.joules" in s["attributes"]]


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_opentelemetry_instrument_exports_the_exact_energy(emulator, receiver, protocol):
    response_ids = run_app(emulator, receiver, protocol)

    transport = "grpc" if protocol == "grpc" else "http"
    assert receiver.requests[transport] >= 2
    spans = energy_spans(receiver)
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
    assert energy_spans(receiver) == []
    assert receiver.latest_points("neuralwatt.energy") == []
