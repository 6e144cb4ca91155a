"""The least any implementation of the telemetry contract can cost with the real SDK.

`ContractFloor` wraps `chat.completions.create` (or `responses.create`, or anthropic's
`messages.create`) and makes exactly the OpenTelemetry SDK calls
the contract in DESIGN.md asks for on one Neuralwatt chat call: a CLIENT span started with the
request attributes (server port and request parameters included) and ended with the response,
usage, energy, cost and quota attributes, and seven
histogram records (energy, power, carbon, cost, duration, input and output tokens; two more,
time to first chunk and per output chunk, for streams), each in the span's context. Every attribute and
value is precomputed, so nothing is read, parsed or validated: the difference between this row
and the bare client is the SDK's own price for the contract, whoever implements it.

With anthropic's own tracing on, the call already has the SDK's span: the floor starts none; it
sets the contract's attributes on the SDK's span while that span is current (in the client's
`_process_response`, one wrapper, as any implementation must reach that span before the SDK
ends it) and records the histograms.
"""

from __future__ import annotations

import importlib
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from opentelemetry_instrumentation_neuralwatt.telemetry.recorder import Telemetry
from opentelemetry_instrumentation_neuralwatt.version import __version__

# The class whose `create` is wrapped, per API.
SDK_METHODS = {"chat": ("openai.resources.chat.completions", "Completions"),
               "responses": ("openai.resources.responses.responses", "Responses"),
               "messages": ("anthropic.resources.messages.messages", "Messages")}
MODEL = "openai/gpt-oss-20b"
REQUEST = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "neuralwatt",
    "server.address": "api.neuralwatt.com", "server.port": 443, "gen_ai.request.model": MODEL,
    "neuralwatt.api": "chat_completions",
}
# What the contract adds for each benchmarked call (benchmarks/overhead.py `workload`): the request
# parameters it sent, and the Responses API's usage details.
REQUEST_PARAMETERS = {
    ("chat", False): {"gen_ai.request.max_tokens": 4},
    ("chat", True): {"gen_ai.request.stream": True},
    ("responses", False): {"gen_ai.request.max_tokens": 16},
    ("responses", True): {"gen_ai.request.stream": True},
    ("messages", False): {"gen_ai.request.max_tokens": 4},
    ("messages", True): {"gen_ai.request.max_tokens": 1024, "gen_ai.request.stream": True},
}
USAGE_DETAILS = {"responses": {"gen_ai.usage.cache_read.input_tokens": 0, "gen_ai.usage.reasoning.output_tokens": 0}}
# What the canned response carries (benchmarks/overhead.py), as span attributes.
RESPONSE = {
    "gen_ai.response.model": MODEL, "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 3,
    "gen_ai.usage.output_tokens": 4, "neuralwatt.energy.joules": 15.23,
    "neuralwatt.energy.kwh": 4.23e-06, "neuralwatt.energy.avg_power_watts": 78.5,
    "neuralwatt.energy.duration_seconds": 0.194, "neuralwatt.energy.attribution_method": "prorated",
    "neuralwatt.energy.attribution_ratio": 1.0, "neuralwatt.energy.carbon_g_co2eq": 0.0005146,
    "neuralwatt.energy.grid_carbon_intensity": 42.0, "neuralwatt.energy.grid_id": "FI",
    "neuralwatt.energy.carbon_source": "agent_cache", "neuralwatt.cost.request_cost_usd": 6.1e-05,
    "neuralwatt.cost.cache_savings_usd": 0.0,
    # From the live service's response headers (benchmarks/overhead.py LIVE_HEADERS).
    "neuralwatt.quota.subscription_plan": "pro", "neuralwatt.quota.energy_included_kwh": 5.0,
    "neuralwatt.quota.energy_remaining_kwh": 4.99, "neuralwatt.quota.energy_used_kwh": 0.01,
    "neuralwatt.response.service_tier": "default",
}
STREAM_RESPONSE = {**RESPONSE, "gen_ai.response.time_to_first_chunk": 0.01}
METRIC = {**REQUEST, "gen_ai.response.model": MODEL}  # the points carry no request parameters
INPUT_TOKENS = {**METRIC, "gen_ai.token.type": "input"}
OUTPUT_TOKENS = {**METRIC, "gen_ai.token.type": "output"}


class ContractFloor:
    """instrument() / uninstrument(), like an instrumentor, for the benchmark's alternation."""

    def __init__(self, api: str = "chat", sdk_traces: bool = False):
        self.is_instrumented_by_opentelemetry = False
        self._own_span = not sdk_traces
        module, name = SDK_METHODS[api]
        self._owner = getattr(importlib.import_module(module), name)
        self._original = self._owner.__dict__["create"]
        details = USAGE_DETAILS.get(api, {})
        # Precomputed: (start attributes, end attributes) for a whole call and for a stream.
        self._attributes = {stream: ({**REQUEST, **REQUEST_PARAMETERS[(api, stream)]},
                                     {**(STREAM_RESPONSE if stream else RESPONSE), **details})
                            for stream in (False, True)}

    def instrument(self, tracer_provider=None, meter_provider=None, **_):
        telemetry = Telemetry(__version__, tracer_provider, meter_provider)
        metrics = telemetry.points.instruments

        attributes = self._attributes

        def finish(span, started, stream):
            # Every histogram is recorded in the span's context (exemplars link points to traces).
            context = trace.set_span_in_context(span)
            for histogram, value in ((metrics.energy, 15.23), (metrics.power, 78.5),
                                     (metrics.carbon, 0.0005146), (metrics.cost, 6.1e-05),
                                     (metrics.duration, time.perf_counter() - started)):
                histogram.record(value, METRIC, context)
            metrics.token_usage.record(3, INPUT_TOKENS, context)
            metrics.token_usage.record(4, OUTPUT_TOKENS, context)
            if stream:  # streams also record their timing, on the span and as two histograms
                metrics.time_to_first_chunk.record(0.01, METRIC, context)
                metrics.time_per_output_chunk.record(0.001, METRIC, context)
            if own_span:
                span.set_attributes(attributes[stream][1])
                span.end()

        def through(stream, span, started):
            yield from stream
            finish(span, started, True)

        own_span = self._own_span
        original = self._original

        # Plain functions on the class: the cheapest way to put code around a method.
        def create(resource, *args, **kwargs):
            started = time.perf_counter()
            stream = kwargs.get("stream") is True
            span = telemetry.tracer.start_span(f"chat {MODEL}", kind=SpanKind.CLIENT,
                                               attributes=attributes[stream][0]) \
                if own_span else trace.get_current_span()
            result = original(resource, *args, **kwargs)
            if stream:
                return through(result, span, started)
            finish(span, started, False)
            return result

        self._owner.create = create
        if not own_span:  # the SDK's span: the contract's attributes go on it while it is current
            everything = {stream: {**start, **end} for stream, (start, end) in attributes.items()}

            client = importlib.import_module("anthropic._base_client").SyncAPIClient
            process_response = client.__dict__["_process_response"]

            def on_sdk_span(sdk_client, *args, **kwargs):
                result = process_response(sdk_client, *args, **kwargs)
                stream = kwargs.get("stream") is True
                trace.get_current_span().set_attributes(everything[stream])
                return result

            self._process = (client, process_response)
            client._process_response = on_sdk_span
        self.is_instrumented_by_opentelemetry = True

    def uninstrument(self):
        self._owner.create = self._original
        if not self._own_span:
            owner, original = self._process
            owner._process_response = original
        self.is_instrumented_by_opentelemetry = False
