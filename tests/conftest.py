"""Shared fixtures: the emulator on loopback, the real OpenTelemetry SDK with in-memory
exporters, and the real `openai` clients pointed at the emulator."""

from __future__ import annotations

import gc
import importlib
import math
import socket

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.call import deferred
from opentelemetry_instrumentation_neuralwatt.emulator import FAULT_HEADER, NeuralwattEmulator

# The HTTP library under the SDK: httpx2 for openai 3.x, httpx for 1.x and 2.x (httpx2 may be
# installed beside an older openai, by anthropic).
httpx = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")

# openai releases before the Responses API (the compatibility run on 1.40) have nothing to test
# there, and the dashboard's workload uses it.
collect_ignore = [] if hasattr(openai.OpenAI, "responses") else ["test_responses.py", "test_dashboard.py"]

MODEL = "openai/gpt-oss-20b"
MESSAGES = [{"role": "user", "content": "How much energy does this answer use?"}]


class Telemetry:
    """What the instrumentation exported during one test."""

    def __init__(self):
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self):
        return list(self.exporter.get_finished_spans())

    def span(self):
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, name):
        """Data points of one metric, as {frozenset(attributes): point}."""
        data = self.reader.get_metrics_data()
        found = {}
        for resource_metrics in (data.resource_metrics if data else []):
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            found[frozenset(point.attributes.items())] = point
        return found

    def total(self, name):
        return sum(p.sum for p in self.points(name).values())

    def count(self, name):
        return sum(p.count for p in self.points(name).values())


@pytest.fixture
def emulator():
    with NeuralwattEmulator(seed=7) as running:
        yield running


@pytest.fixture
def telemetry(emulator):
    """Instruments with fresh in-memory providers; the emulator's host is a Neuralwatt host."""
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:  # e.g. by the llm plugin, at a model's first call
        instrumentor.uninstrument()
    instrumentor.instrument(
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
        hosts=[f"127.0.0.1:{emulator.port}"],
    )
    yield recorded
    instrumentor.uninstrument()


@pytest.fixture
def instrument_afresh(emulator):
    """instrument(**options) with fresh in-memory providers, as often as a test likes (the emulator's
    host is a Neuralwatt host unless `hosts` is given); returns them; uninstrumented afterwards."""
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()

    def instrument(**options):
        recorded = Telemetry()
        instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider,
                                **{"hosts": [f"127.0.0.1:{emulator.port}"], **options})
        return recorded

    yield instrument
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.fixture
def capturing(emulator, monkeypatch):
    """Instrumented with message content captured (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider,
                            hosts=[f"127.0.0.1:{emulator.port}"])
    yield recorded
    instrumentor.uninstrument()


@pytest.fixture
def client(emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test-secret", max_retries=0) as made:
        yield made


@pytest.fixture
async def aclient(emulator):
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test-secret", max_retries=0) as made:
        yield made


def helpers(client):
    """Where `.stream()` and `.parse()` live: chat.completions, or beta.chat.completions before openai 1.92."""
    completions = client.chat.completions
    return completions if hasattr(completions, "stream") else client.beta.chat.completions


# What the SDK raises when the server goes away mid-stream or a read times out: its own
# exception types in openai >= 1.5x, the HTTP library's in older releases.
CONNECTION_ERRORS = (openai.APIConnectionError, httpx.TransportError)
TIMEOUT_ERRORS = (openai.APITimeoutError, httpx.TimeoutException)


def collect_garbage() -> None:
    """Collect garbage, then wait for the calls of collected streams to end: a finalizer only
    queues that work, for the instrumentation's worker thread (see deferred.py)."""
    gc.collect()
    deferred.drain()


def free_port() -> int:
    """A loopback port nothing listens on (a down endpoint, or one for a server to take)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def faults(*names):
    """extra_headers that switch emulator faults on for one request."""
    return {FAULT_HEADER: ",".join(names)}


def energy_attributes(energy: dict, cost: dict | None = None) -> dict:
    """The span attributes the contract maps a server's energy (and cost) object to."""
    names = {
        "energy_joules": "neuralwatt.energy.joules",
        "energy_kwh": "neuralwatt.energy.kwh",
        "avg_power_watts": "neuralwatt.energy.avg_power_watts",
        "duration_seconds": "neuralwatt.energy.duration_seconds",
        "attribution_method": "neuralwatt.energy.attribution_method",
        "attribution_ratio": "neuralwatt.energy.attribution_ratio",
        "measurement_available": "neuralwatt.energy.measurement_available",
        "carbon_g_co2eq": "neuralwatt.energy.carbon_g_co2eq",
        "grid_carbon_intensity_gco2perkwhr": "neuralwatt.energy.grid_carbon_intensity",
        "grid_id": "neuralwatt.energy.grid_id",
        "carbon_source": "neuralwatt.energy.carbon_source",
    }
    expected = {}
    for key, value in energy.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                expected[f"neuralwatt.energy.{key}.{inner}"] = inner_value
        else:
            expected[names.get(key, f"neuralwatt.energy.{key}")] = value
    for key, value in (cost or {}).items():
        expected[f"neuralwatt.cost.{key}"] = value
    return expected


def header_cost_attributes(exchange) -> dict:
    """What a call whose body brought no cost records from the cost response headers."""
    names = {"x-request-cost-usd": "request_cost_usd", "x-cache-savings-usd": "cache_savings_usd",
             "x-allowance-remaining-usd": "allowance_remaining_usd", "x-budget-remaining-usd": "budget_remaining_usd"}
    return {f"neuralwatt.cost.{field}": float(exchange.response_headers[header])
            for header, field in names.items() if header in exchange.response_headers}


def neuralwatt_attributes(span) -> dict:
    """The span's energy and cost attributes (what `energy_attributes` predicts)."""
    return {k: v for k, v in span.attributes.items() if k.startswith(("neuralwatt.energy.", "neuralwatt.cost."))}


def assert_valid_attributes(span):
    """Every attribute is a valid OpenTelemetry value: finite numbers, bounded strings."""
    for key, value in span.attributes.items():
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            assert isinstance(item, (str, bool, int, float)), (key, item)
            if isinstance(item, float):
                assert math.isfinite(item), (key, item)
            if isinstance(item, str) and key.startswith("neuralwatt."):
                assert len(item) <= 256, key


@pytest.fixture(autouse=True)
def _settings_warn_afresh():
    """A bad setting warns once per process: each test is a process of its own there."""
    from opentelemetry_instrumentation_neuralwatt.sdk import settings

    settings._warned.clear()
