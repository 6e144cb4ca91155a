"""The telemetry contract: span attributes, metric instruments and their bucket boundaries.

`Telemetry` holds the tracer and instruments of one `instrument()` call and turns a finished
`Invocation` (any API shape) into span attributes and metric points. Nothing here knows an SDK.
"""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from opentelemetry import trace
from opentelemetry.metrics import Observation, get_meter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import livewire, sse
from .energy import Measurement
from .version import __version__

PROVIDER = "neuralwatt"
ENERGY_REPORT_EVENT = "neuralwatt.energy.report"
# Which API shape a call used (chat completions, responses, messages): operation names alone
# do not tell them apart, and the dashboard groups by it.
API_ATTRIBUTE = "neuralwatt.api"
# Newer semantic-conventions releases name these; older ones (still allowed) do not.
CACHE_READ_TOKENS = getattr(GenAI, "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS", "gen_ai.usage.cache_read.input_tokens")
CACHE_CREATION_TOKENS = getattr(GenAI, "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
                                "gen_ai.usage.cache_creation.input_tokens")
REASONING_TOKENS = getattr(GenAI, "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS", "gen_ai.usage.reasoning.output_tokens")

# Histogram boundaries, chosen from what Neuralwatt reports: a chat request is ~1-100 J,
# hundreds of watts to a few kW, and well under a gram of CO2e or a cent.
ENERGY_BUCKETS_J = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000]
POWER_BUCKETS_W = [10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600]
CARBON_BUCKETS_G = [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
COST_BUCKETS_USD = [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5]
# The GenAI semantic conventions' advisory boundaries.
DURATION_BUCKETS_S = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


class Telemetry:
    def __init__(self, tracer_provider=None, meter_provider=None, capture_content: bool = False):
        self.tracer = trace.get_tracer(
            __name__, __version__, tracer_provider, schema_url=Schemas.V1_30_0.value
        )
        meter = get_meter(__name__, __version__, meter_provider, schema_url=Schemas.V1_30_0.value)
        self.capture_content = capture_content

        def histogram(name, unit, description, buckets):
            return meter.create_histogram(name, unit=unit, description=description,
                                          explicit_bucket_boundaries_advisory=buckets)

        self.energy = histogram("neuralwatt.energy", "J", "Energy used by a Neuralwatt request", ENERGY_BUCKETS_J)
        self.power = histogram("neuralwatt.power", "W", "Average power drawn by a Neuralwatt request", POWER_BUCKETS_W)
        self.carbon = histogram("neuralwatt.carbon", "g", "Carbon emitted by a Neuralwatt request, g CO2e",
                                CARBON_BUCKETS_G)
        self.cost = histogram("neuralwatt.cost", "USD", "Cost of a Neuralwatt request", COST_BUCKETS_USD)
        self.duration = histogram("gen_ai.client.operation.duration", "s", "GenAI operation duration",
                                  DURATION_BUCKETS_S)
        self.token_usage = histogram("gen_ai.client.token.usage", "{token}", "Number of input and output tokens used",
                                     TOKEN_BUCKETS)
        # Quota gauges: the last value any response of this process reported, per server.
        self.energy_remaining: dict = {}
        self.allowance_remaining: dict = {}
        for name, unit, description, values in (
            ("neuralwatt.quota.energy_remaining", "kWh", "Subscription energy left (x-energy-remaining)",
             self.energy_remaining),
            ("neuralwatt.quota.allowance_remaining", "USD", "Allowance left (x-allowance-remaining-usd)",
             self.allowance_remaining),
        ):
            meter.create_observable_gauge(name, callbacks=[_observe_last(values)], unit=unit,
                                          description=description)

    def start_span(self, call, start_time: Optional[int] = None):
        model = call.request_model
        return self.tracer.start_span(f"{call.operation} {model}" if model else call.operation,
                                      kind=SpanKind.CLIENT, attributes=call.request_attributes,
                                      start_time=start_time)

    def finish(self, call, found: Optional[Measurement], error: Optional[BaseException]) -> None:
        """Metrics for a finished call, and its span's response attributes (ending our own span)."""
        elapsed = time.perf_counter() - call.started
        metric_attributes = {
            GenAI.GEN_AI_OPERATION_NAME: call.operation,
            GenAI.GEN_AI_PROVIDER_NAME: PROVIDER,
            server_attributes.SERVER_ADDRESS: call.host,
            API_ATTRIBUTE: call.adapter.api,
        }
        if call.request_model:
            metric_attributes[GenAI.GEN_AI_REQUEST_MODEL] = call.request_model
        if isinstance(call.response_model, str):
            metric_attributes[GenAI.GEN_AI_RESPONSE_MODEL] = call.response_model
        if call.port:
            metric_attributes[server_attributes.SERVER_PORT] = call.port

        if found is not None:
            for instrument, value in ((self.energy, found.joules), (self.power, found.watts),
                                      (self.carbon, found.carbon_g), (self.cost, found.cost_usd)):
                if value is not None:
                    instrument.record(value, metric_attributes)

        span = call.span
        if span is None:  # not a Neuralwatt endpoint: its energy is counted, nothing else is ours
            return
        headers = call.response_headers()
        if headers is not None:
            self._quota_seen(call.host, headers, found)
        if error is not None:
            metric_attributes[error_attributes.ERROR_TYPE] = type(error).__qualname__
        self.duration.record(elapsed, metric_attributes)
        if error is None:
            for token_type, count in (("input", call.input_tokens), ("output", call.output_tokens)):
                if _count(count):
                    self.token_usage.record(count, {**metric_attributes, GenAI.GEN_AI_TOKEN_TYPE: token_type})

        if span.is_recording():
            # An adopted span was started by the SDK with its own request attributes: ours go on too.
            attributes = {**call.request_attributes, **response_attributes(call)} if call.adopted \
                else response_attributes(call)
            if headers is not None:
                attributes.update(headers.attributes)
            if found is not None:
                attributes.update(found.attributes)
            live_wire(call, span, attributes)
            if error is not None and not call.adopted:  # the SDK records errors on its own span
                attributes[error_attributes.ERROR_TYPE] = type(error).__qualname__
                span.set_status(Status(StatusCode.ERROR, str(error)[:512]))
            span.set_attributes(attributes)
        if not call.adopted:
            span.end()


    def _quota_seen(self, host: str, headers, found: Optional[Measurement]) -> None:
        if headers.energy_remaining_kwh is not None:
            self.energy_remaining[host] = headers.energy_remaining_kwh
        allowance = headers.allowance_remaining_usd
        if found is not None and found.cost is not None:  # the body's cost object, when sent
            body = found.attributes.get("neuralwatt.cost.allowance_remaining_usd")
            allowance = body if body is not None else allowance
        if allowance is not None:
            self.allowance_remaining[host] = allowance


def _observe_last(values: dict):
    def observe(options):
        return [Observation(value, {server_attributes.SERVER_ADDRESS: host}) for host, value in list(values.items())]

    return observe


def live_wire(call, span, attributes: dict) -> None:
    """MCR session data, service tier, MCR status frames and repeated energy reports."""
    decoder = call.decoder
    if call.service_tier is not None and isinstance(call.service_tier, str):
        attributes[livewire.SERVICE_TIER] = call.service_tier[:livewire.MAX_TEXT]
    sessions = getattr(decoder, sse.MCR_SESSION, None) if decoder is not None else None
    if sessions:
        attributes.update(livewire.session_attributes(sessions[-1]))
    if call.data_mcr is not None:
        attributes.update(livewire.session_attributes(call.data_mcr))
    statuses = getattr(decoder, sse.MCR_STATUS, None) if decoder is not None else None
    if statuses:
        attributes[livewire.STATUS_EVENTS] = len(statuses)
        for text in statuses:
            span.add_event(livewire.STATUS_EVENT, livewire.status_event(text))
    if len(call.reports) > 1:
        for report in call.reports:
            span.add_event(ENERGY_REPORT_EVENT, dict(report.attributes))


def response_attributes(call) -> dict:
    attributes = {}
    if isinstance(call.response_model, str):
        attributes[GenAI.GEN_AI_RESPONSE_MODEL] = call.response_model
    if isinstance(call.response_id, str):
        attributes[GenAI.GEN_AI_RESPONSE_ID] = call.response_id
    if call.finish_reasons:
        attributes[GenAI.GEN_AI_RESPONSE_FINISH_REASONS] = [str(r) for r in call.finish_reasons]
    for attribute, count in (
        (GenAI.GEN_AI_USAGE_INPUT_TOKENS, call.input_tokens),
        (GenAI.GEN_AI_USAGE_OUTPUT_TOKENS, call.output_tokens),
        (CACHE_READ_TOKENS, call.cache_read_tokens),
        (CACHE_CREATION_TOKENS, call.cache_creation_tokens),
        (REASONING_TOKENS, call.reasoning_tokens),
    ):
        if _count(count):
            attributes[attribute] = count
    if call.output_text:
        attributes[GenAI.GEN_AI_OUTPUT_MESSAGES] = to_json(
            [{"role": "assistant", "parts": [{"type": "text", "content": text}]}
             for _, text in sorted(call.output_text.items())]
        )
    return attributes


def to_json(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
