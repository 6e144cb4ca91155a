"""The telemetry contract for one finished call: its span's response attributes and events, and
its metric points (`metric_points`), whatever the API shape. Nothing here knows an SDK: a call is
read by its fields (see `call.invocation.Invocation`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode

from ..wire import headers as response_headers
from ..wire.energy import Measurement
from . import foreign
from .instruments import instruments_for
from .metric_points import API_ATTRIBUTE, MetricPoints
from .span_attributes import client_secret, describe, live_wire, response_attributes

logger = logging.getLogger(__name__)

TIME_TO_FIRST_CHUNK = GenAI.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
# The newest schema that opentelemetry-semantic-conventions 0.63b0 (our floor, the first release
# naming everything we emit) provides.
SCHEMA_URL = Schemas.V1_41_1.value


class Telemetry:
    """The tracer and metric points of one `instrument()` call."""

    def __init__(self, version: str, tracer_provider=None, meter_provider=None, capture_content: bool = False):
        self.tracer = trace.get_tracer(__name__, version, tracer_provider, schema_url=SCHEMA_URL)
        self.points = MetricPoints(instruments_for(meter_provider, version, SCHEMA_URL))
        self.capture_content = capture_content
        self.attribution: Any = None  # labels.Attribution, when baggage keys are named
        self.rollup: Any = None  # rollup.Ancestry, when roll-up is on

    def start_span(self, call, start_time: int | None = None, context=None):
        """The call's span, a child of the span current in `context` (the one the call started
        in, when given; read now otherwise)."""
        model = call.request_model
        return self.tracer.start_span(f"{call.operation} {model}" if model else call.operation, context,
                                      kind=SpanKind.CLIENT, attributes=call.request_attributes,
                                      start_time=start_time)

    def record(self, call, found: Measurement | None, error: BaseException | None) -> None:
        """Metrics for a finished call, and its span's response attributes (the call ends the
        span: `Invocation.end`)."""
        elapsed = time.perf_counter() - call.started
        points = self.points
        labels = points.labels(call)
        span = call.span
        # Recorded in the span's context: with the SDK's default exemplar filter, each point links
        # to the request's trace (a no-op tracer's invalid span has none to link to).
        context = call.in_context  # the one the call made current, when it did
        if context is None and span is not None and span is not INVALID_SPAN:
            context = trace.set_span_in_context(span)
        if found is not None:
            points.energy(call, found, labels[0], context)
        if span is None:  # not a Neuralwatt endpoint: its energy is counted, nothing else is ours
            _warn_if_neuralwatt(call, found)
            return
        recording = span.is_recording()
        headers = call.response_headers()
        header_attributes = None
        if headers is not None:
            if recording:  # read whole only for a span that is kept (then the quota is read with them)
                header_attributes = headers.attributes
            points.quota(call, headers, found)
        if error is not None:
            labels = ({**labels[0], error_attributes.ERROR_TYPE: type(error).__qualname__},)
        first_chunk = None
        if call.first_chunk_at is not None and error is None:  # streams only
            first_chunk = call.first_chunk_at - call.started
        if call.adopted != foreign.GENAI:
            points.client(call, elapsed, first_chunk, labels, context, error)
        else:  # util-genai records the gen_ai.client.* metrics itself; `neuralwatt.api` on its points
            # lets GenAI panels find Neuralwatt calls, whatever provider name they carry.
            call.genai.metric_attributes[API_ATTRIBUTE] = call.adapter.api
        if recording:
            self._span_attributes(call, span, found, error, header_attributes, first_chunk)
        if self.rollup is not None:
            self.rollup.add(span, found)

    def _span_attributes(self, call, span, found: Measurement | None, error: BaseException | None,
                         header_attributes: dict | None, first_chunk: float | None) -> None:
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

_warned: set = set()


def _warn_if_neuralwatt(call, found: Measurement | None) -> None:
    """Say so, once per host and process, when a host that is not listed answers like Neuralwatt:
    its calls get no span, which nobody would otherwise notice."""
    where = f"{call.host}:{call.port}" if call.port else call.host
    if where in _warned or len(_warned) > 1024:
        return
    if found is None and (call.headers is None or not response_headers.looks_like_neuralwatt(call.headers)):
        return
    _warned.add(where)
    logger.warning(
        "neuralwatt: %s answers like a Neuralwatt endpoint (it reports energy) but is not listed as one, "
        "so its calls get no span (their energy still reaches the metrics). List it with "
        "NeuralwattInstrumentor().instrument(hosts=[%r]) or OTEL_INSTRUMENTATION_NEURALWATT_HOSTS=%s",
        where, where, where)
