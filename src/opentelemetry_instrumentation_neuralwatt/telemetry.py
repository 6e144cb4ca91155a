"""The telemetry contract: span attributes and events, and which metric points a call records.

`Telemetry` holds the tracer and instruments of one `instrument()` call and turns a finished
`Invocation` (any API shape) into span attributes and metric points. Nothing here knows an SDK.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode

from . import foreign, livewire
from .attribution import OTHER, BoundedValues
from .energy import Measurement
from .instruments import instruments_for
from .payload import clean_text
from .span_attributes import client_secret, count, describe, live_wire, response_attributes
from .version import __version__

logger = logging.getLogger(__name__)

PROVIDER = "neuralwatt"
# Which API shape a call used (chat completions, responses, messages): operation names alone
# do not tell them apart, and the dashboard groups by it.
API_ATTRIBUTE = "neuralwatt.api"
TIME_TO_FIRST_CHUNK = GenAI.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
# The newest schema that opentelemetry-semantic-conventions 0.63b0 (our floor, the first release
# naming everything we emit) provides.
SCHEMA_URL = Schemas.V1_41_1.value
# Distinct response models on metric points, and distinct sets of labels with tenant values on the
# energy points, per instrument() (see Telemetry._tenant); then OTHER.
MAX_RESPONSE_MODELS = 100
MAX_TENANT_SETS = 1000

class Telemetry:
    def __init__(self, tracer_provider=None, meter_provider=None, capture_content: bool = False):
        self.tracer = trace.get_tracer(__name__, __version__, tracer_provider, schema_url=SCHEMA_URL)
        self.instruments = instruments_for(meter_provider, __version__, SCHEMA_URL)
        self.capture_content = capture_content
        self.attribution: Any = None  # attribution.Attribution, when baggage keys are named
        self.rollup: Any = None  # rollup.Ancestry, when roll-up is on
        self._made_points: dict = {}  # see _points
        # Labels a server or a caller chooses are bounded on metric points (see attribution.py): the
        # response model alone, and its sets with the tenant values on the energy points.
        self.response_models = BoundedValues(MAX_RESPONSE_MODELS)
        self._tenant_sets: set = set()

    def start_span(self, call, start_time: int | None = None):
        model = call.request_model
        return self.tracer.start_span(f"{call.operation} {model}" if model else call.operation,
                                      kind=SpanKind.CLIENT, attributes=call.request_attributes,
                                      start_time=start_time)

    def record(self, call, found: Measurement | None, error: BaseException | None) -> None:
        """Metrics for a finished call, and its span's response attributes (the call ends the
        span: `Invocation.end`)."""
        elapsed = time.perf_counter() - call.started
        points = self._points(call)
        metric_attributes = points[0]

        metrics, span = self.instruments, call.span
        # Recorded in the span's context: with the SDK's default exemplar filter, each point links
        # to the request's trace (a no-op tracer's invalid span has none to link to).
        context = None if span is None or span is INVALID_SPAN else trace.set_span_in_context(span)
        if found is not None:
            # The named baggage entries (a tenant) go on the energy points only, not the GenAI ones.
            energy_attributes = self._with_tenant(metric_attributes, call.tenant) if call.tenant else metric_attributes
            if found.joules is not None:
                metrics.energy.record(found.joules, energy_attributes, context)
            if found.watts is not None:
                metrics.power.record(found.watts, energy_attributes, context)
            if found.carbon_g is not None:
                metrics.carbon.record(found.carbon_g, energy_attributes, context)
            if found.cost_usd is not None:
                metrics.cost.record(found.cost_usd, energy_attributes, context)

        if span is None:  # not a Neuralwatt endpoint: its energy is counted, nothing else is ours
            _warn_if_neuralwatt(call, found)
            return
        recording = span.is_recording()
        headers = call.response_headers()
        header_attributes = None
        if headers is not None:
            if recording:  # read whole only when kept
                header_attributes = headers.attributes
            energy_remaining, allowance = headers.quota()
            if found is not None and found.cost is not None:  # the body's cost object, when sent
                body_allowance = found.allowance_usd
                if body_allowance is not None:
                    allowance = body_allowance
            if energy_remaining is not None:
                metrics.energy_remaining[call.host] = energy_remaining
            if allowance is not None:
                metrics.allowance_remaining[call.host] = allowance
        if error is not None:
            points = ({**metric_attributes, error_attributes.ERROR_TYPE: type(error).__qualname__},)
        first_chunk = None
        if call.first_chunk_at is not None and error is None:  # streams only
            first_chunk = call.first_chunk_at - call.started
        if call.adopted != foreign.GENAI:
            self._client_metrics(call, elapsed, first_chunk, points, context, error)
        else:  # util-genai records the gen_ai.client.* metrics itself; `neuralwatt.api` on its points
            # lets GenAI panels find Neuralwatt calls, whatever provider name they carry.
            call.genai.metric_attributes[API_ATTRIBUTE] = call.adapter.api

        if recording:
            # An adopted SDK span was started with the SDK's own request attributes: ours go on too.
            attributes = {**call.request_attributes, **response_attributes(call)} if call.adopted == foreign.SDK \
                else response_attributes(call)
            if header_attributes:
                attributes.update(header_attributes)
            if found is not None:
                attributes.update(found.attributes)
            if first_chunk is not None:
                attributes[TIME_TO_FIRST_CHUNK] = first_chunk
            # util-genai records the errors it sees on its span; the anthropic SDK does not see a
            # helper's (`messages.stream(output_format=...)` raising), so an SDK span gets ours too.
            if error is not None and call.adopted != foreign.GENAI:
                attributes[error_attributes.ERROR_TYPE] = type(error).__qualname__
                description = describe(error, client_secret(call.client), self.capture_content)
                span.set_status(Status(StatusCode.ERROR, description))
            if call.adopted == foreign.GENAI:
                self._enrich_genai(call, span, attributes)
            else:
                live_wire(call, span, attributes)
                span.set_attributes(attributes)
        if self.rollup is not None:
            self.rollup.add(span, found)

    @staticmethod
    def _enrich_genai(call, span, attributes: dict) -> None:
        """Ours onto a util-genai invocation's span: through its context data, which it merges into
        its span when it finishes; and directly while its span is the current one, because an
        instrumentation that replaces its invocation's `attributes` dict (genai-anthropic 1.3b0
        does) loses what the context data carried."""
        direct = foreign.is_genai_span(span)
        live_wire(call, span if direct else None, attributes)
        attributes = foreign.own_attributes({**call.request_attributes, **attributes})
        if call.tenant:
            attributes.update(call.tenant)
        call.genai.attributes.update(attributes)
        if direct:
            span.set_attributes(attributes)

    def _with_tenant(self, metric_attributes: dict, tenant: dict) -> dict:
        """An energy point's labels with the tenant's: each value bounded already, and their sets
        bounded too (MAX_TENANT_SETS): beyond, the values others chose (tenant, response model) are
        OTHER, so several keys times many models never reach the SDK's own limit (2,000 sets)."""
        key = (*metric_attributes.values(), *tenant.values())
        if key in self._tenant_sets or len(self._tenant_sets) < MAX_TENANT_SETS:
            self._tenant_sets.add(key)
            return {**metric_attributes, **tenant}
        overflow = {**metric_attributes, **dict.fromkeys(tenant, OTHER)}
        if GenAI.GEN_AI_RESPONSE_MODEL in overflow:
            overflow[GenAI.GEN_AI_RESPONSE_MODEL] = OTHER
        return overflow

    def _points(self, call) -> tuple:
        """The attributes of a call's metric points: (all, input tokens, output tokens). The same
        for every call of one model on one host, so made once and kept (bounded); never changed."""
        response_model = call.response_model if isinstance(call.response_model, str) else None
        key = (call.operation, call.host, call.port, call.adapter.api, call.request_model, response_model)
        points = self._made_points.get(key)
        if points is None:
            metric_attributes = {
                GenAI.GEN_AI_OPERATION_NAME: call.operation,
                GenAI.GEN_AI_PROVIDER_NAME: PROVIDER,
                server_attributes.SERVER_ADDRESS: call.host,
                API_ATTRIBUTE: call.adapter.api,
            }
            if call.request_model:
                metric_attributes[GenAI.GEN_AI_REQUEST_MODEL] = call.request_model
            if response_model is not None:  # the server names it: bounded
                metric_attributes[GenAI.GEN_AI_RESPONSE_MODEL] = self.response_models(clean_text(response_model))
            if call.port:
                metric_attributes[server_attributes.SERVER_PORT] = call.port
            points = (metric_attributes, {**metric_attributes, GenAI.GEN_AI_TOKEN_TYPE: "input"},
                      {**metric_attributes, GenAI.GEN_AI_TOKEN_TYPE: "output"})
            if len(self._made_points) >= 1024:  # models and hosts come and go: stay bounded
                self._made_points.clear()
            self._made_points[key] = points
        return points

    def _client_metrics(self, call, elapsed: float, first_chunk: float | None, points: tuple,
                        context, error: BaseException | None) -> None:
        """The GenAI client metrics: duration; and, for a call that succeeded, token usage and the
        stream timings. Time per output chunk is one point per stream (the mean gap after the first
        chunk), not one per chunk: a histogram record per chunk would cost more than the stream."""
        metrics = self.instruments
        metric_attributes = points[0]
        metrics.duration.record(elapsed, metric_attributes, context)
        if error is not None:
            return
        if count(call.input_tokens):
            metrics.token_usage.record(call.input_tokens, points[1], context)
        if count(call.output_tokens):
            metrics.token_usage.record(call.output_tokens, points[2], context)
        if first_chunk is not None:
            metrics.time_to_first_chunk.record(first_chunk, metric_attributes, context)
            if call.output_chunks:
                per_chunk = (call.started + elapsed - call.first_chunk_at) / call.output_chunks
                metrics.time_per_output_chunk.record(per_chunk, metric_attributes, context)


_warned: set = set()


def _warn_if_neuralwatt(call, found: Measurement | None) -> None:
    """Say so, once per host and process, when a host that is not listed answers like Neuralwatt:
    its calls get no span, which nobody would otherwise notice."""
    where = f"{call.host}:{call.port}" if call.port else call.host
    if where in _warned or len(_warned) > 1024:
        return
    if found is None and (call.headers is None or not livewire.looks_like_neuralwatt(call.headers)):
        return
    _warned.add(where)
    logger.warning(
        "neuralwatt: %s answers like a Neuralwatt endpoint (it reports energy) but is not listed as one, "
        "so its calls get no span (their energy still reaches the metrics). List it with "
        "NeuralwattInstrumentor().instrument(hosts=[%r]) or OTEL_INSTRUMENTATION_NEURALWATT_HOSTS=%s",
        where, where, where)
