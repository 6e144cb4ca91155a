"""Neuralwatt energy telemetry in one script.

    python examples/quickstart.py

Without NEURALWATT_API_KEY it starts the built-in emulator in-process; with it, it calls the real
API (NEURALWATT_API_BASE and NEURALWATT_MODEL override the defaults; NEURALWATT_EMULATOR_SEED
makes the emulator's numbers repeatable). It instruments the `openai`
SDK, makes a non-streaming and a streaming chat call, sync and async, and prints what each request
cost in tokens, joules, watts, grams of CO2e and dollars, then the totals from the metrics. With
OTEL_EXPORTER_OTLP_ENDPOINT set, spans and metrics are also exported there over OTLP.

A mistake in the settings (nothing listening at NEURALWATT_API_BASE, a base without /v1, a refused
key) gets one line saying what to fix, and exit status 1. Ctrl-C prints what the calls that had
finished measured and exits with status 130.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from urllib.parse import urlsplit

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

DEFAULT_API_BASE = "https://api.neuralwatt.com/v1"
DEFAULT_MODEL = "openai/gpt-oss-20b"
PROMPT = [{"role": "user", "content": "In one sentence: why measure the energy of an LLM call?"}]


def listening(endpoint: str) -> bool:
    """Whether something accepts connections at the OTLP/HTTP endpoint (checked before exporting,
    rather than after 20 s of retries and a page of connection errors)."""
    url = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    try:
        with socket.create_connection((url.hostname or "localhost", url.port or 4318), timeout=2):
            return True
    except OSError:
        return False


def telemetry_providers():
    """SDK providers that keep spans and metrics in memory (to print them) and, when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, export them over OTLP too."""
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "neuralwatt-quickstart")})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    readers = [reader]
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint and not listening(endpoint):
        print(f"Nothing listens at {endpoint}: not exporting over OTLP. Start the stack "
              "(cd examples/observability && docker compose up -d) or unset OTEL_EXPORTER_OTLP_ENDPOINT.")
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT")  # so the summary does not claim it was sent
    elif endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            print("OTEL_EXPORTER_OTLP_ENDPOINT is set: pip install opentelemetry-exporter-otlp to export there.")
        else:
            # A short timeout: an endpoint that stops answering costs the demo seconds, not minutes.
            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(timeout=5)))
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(timeout=5), export_interval_millis=5000))
            print(f"Exporting spans and metrics over OTLP to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}")
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    return tracer_provider, meter_provider, spans, reader


def run_calls(base_url: str, api_key: str, model: str) -> None:
    with openai.OpenAI(base_url=base_url, api_key=api_key) as client:
        client.chat.completions.create(model=model, messages=PROMPT, max_tokens=64)
        for _ in client.chat.completions.create(model=model, messages=PROMPT, max_tokens=64, stream=True,
                                                stream_options={"include_usage": True}):
            pass

    async def async_calls():
        async with openai.AsyncOpenAI(base_url=base_url, api_key=api_key) as client:
            await client.chat.completions.create(model=model, messages=PROMPT, max_tokens=64)
            stream = await client.chat.completions.create(model=model, messages=PROMPT, max_tokens=64, stream=True,
                                                          stream_options={"include_usage": True})
            async for _ in stream:
                pass

    asyncio.run(async_calls())


def show(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def print_requests(spans) -> None:
    print(f"{'call':<18}{'model':<22}{'tokens in/out':>14}{'energy J':>11}{'power W':>10}"
          f"{'CO2e g':>11}{'cost USD':>11}")
    labels = iter(["sync", "sync stream", "async", "async stream"])
    for span in spans:
        a = span.attributes
        tokens = f"{a.get('gen_ai.usage.input_tokens', '-')}/{a.get('gen_ai.usage.output_tokens', '-')}"
        print(f"{next(labels, span.name):<18}{str(a.get('gen_ai.response.model', '-')):<22}{tokens:>14}"
              f"{show(a.get('neuralwatt.energy.joules'), '.4f'):>11}"
              f"{show(a.get('neuralwatt.energy.avg_power_watts'), '.1f'):>10}"
              f"{show(a.get('neuralwatt.energy.carbon_g_co2eq'), '.3g'):>11}"
              f"{show(a.get('neuralwatt.cost.request_cost_usd'), '.3g'):>11}")


def print_where_to_look(spans) -> None:
    """Each request's trace id, and where to find it."""
    exporting = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    print("\nTrace ids:")
    for label, span in zip(["sync", "sync stream", "async", "async stream"], spans, strict=False):
        print(f"  {label:<14} {span.context.trace_id:032x}")
    if exporting:
        print(f"Sent over OTLP to {exporting}. With the stack in examples/observability: each trace at "
              "http://localhost:16686/trace/<trace id> (Jaeger), the dashboard at http://localhost:3000.")
    else:
        print("To see them in Jaeger and on the energy dashboard: cd examples/observability && docker compose up -d,"
              "\nthen run again with OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318.")


def metric_totals(reader) -> dict:
    totals = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    if not hasattr(point, "count"):  # the quota gauges: a last value, not a sum
                        continue
                    count, total = totals.get(metric.name, (0, 0.0))
                    totals[metric.name] = (count + point.count, total + point.sum)
    return totals


def print_totals(reader) -> None:
    totals = metric_totals(reader)
    count, joules = totals.get("neuralwatt.energy", (0, 0.0))
    power_count, watts = totals.get("neuralwatt.power", (0, 0.0))
    print(f"\nMetric totals: {count} measured requests, {joules:.4f} J = {joules / 3600:.6f} Wh "
          f"({joules / 3.6e6:.3e} kWh)")
    if power_count:
        print(f"  mean power {watts / power_count:.1f} W")
    if "neuralwatt.carbon" in totals:
        print(f"  carbon {totals['neuralwatt.carbon'][1]:.4g} g CO2e")
    if "neuralwatt.cost" in totals:
        print(f"  cost ${totals['neuralwatt.cost'][1]:.6f}")
    if "gen_ai.client.token.usage" in totals:
        print(f"  tokens {int(totals['gen_ai.client.token.usage'][1])}")


def problem(error: openai.APIError, base_url: str) -> str:
    """One line: what went wrong with the API settings, and what to fix."""
    status = getattr(error, "status_code", None)
    if isinstance(error, openai.APIConnectionError):
        return (f"Could not reach {base_url} ({error.__cause__ or error.message}). Is NEURALWATT_API_BASE right? "
                "(Without NEURALWATT_API_KEY the demo runs against its built-in emulator.)")
    if status == 401:
        return f"{base_url} refused the API key (HTTP 401): check NEURALWATT_API_KEY."
    if status == 404 and not base_url.rstrip("/").endswith("/v1"):
        return f"{base_url} answered HTTP 404. Did you mean NEURALWATT_API_BASE={base_url.rstrip('/')}/v1?"
    detail = error.body.get("message") if isinstance(error.body, dict) else None
    return f"{base_url} answered " + (f"HTTP {status}" if status else "with an error") + f": {detail or error.message}"


def main() -> int:
    api_key = os.environ.get("NEURALWATT_API_KEY")
    model = os.environ.get("NEURALWATT_MODEL", DEFAULT_MODEL)
    tracer_provider, meter_provider, spans, reader = telemetry_providers()
    emulator = None
    if api_key:
        base_url = os.environ.get("NEURALWATT_API_BASE", DEFAULT_API_BASE)
        print(f"Calling Neuralwatt at {base_url} with model {model}\n")
    else:
        seed = os.environ.get("NEURALWATT_EMULATOR_SEED")
        emulator = NeuralwattEmulator(seed=int(seed) if seed else None).start()
        base_url, api_key = emulator.base_url, "emulator"
        print(f"No NEURALWATT_API_KEY: using the built-in emulator at {base_url}\n")

    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            hosts=[base_url])
    try:
        run_calls(base_url, api_key, model)
        print_requests(spans.get_finished_spans())
        print_totals(reader)
        print_where_to_look(spans.get_finished_spans())
    except KeyboardInterrupt:  # Ctrl-C: what the calls that had finished measured, and no traceback
        finished = [s for s in spans.get_finished_spans() if s.status.status_code is not StatusCode.ERROR]
        print(f"\nInterrupted: {len(finished)} of the 4 calls had finished.")
        if finished:
            print()
            print_requests(finished)
        return 130
    except openai.APIError as error:
        print(problem(error, base_url), file=sys.stderr)
        return 1
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        if emulator is not None:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
