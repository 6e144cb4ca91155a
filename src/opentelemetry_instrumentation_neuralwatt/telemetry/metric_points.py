"""The metric points a finished call records, and their labels: the energy points (with the
tenant's labels), the quota gauges' last values, the GenAI client points.

Every label value a server or a caller chooses is bounded (see labels.py): the response model
alone, and its sets with the tenant values on the energy points, so that our labels never reach
the SDK's own limit (2,000 sets per instrument, then an overflow series).
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import server_attributes

from ..wire.energy import Measurement
from ..wire.payload import clean_text
from .instruments import Instruments
from .labels import OTHER, BoundedValues
from .span_attributes import count

PROVIDER = "neuralwatt"
# Which API shape a call used (chat completions, responses, messages): operation names alone
# do not tell them apart, and the dashboard groups by it.
API_ATTRIBUTE = "neuralwatt.api"
# Distinct response models on metric points, and distinct sets of labels with tenant values on the
# energy points, per instrument(); then OTHER.
MAX_RESPONSE_MODELS = 100
MAX_TENANT_SETS = 1000


class MetricPoints:
    """One `instrument()`'s points: their labels, made once per model and host, and the bounds."""

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments
        self._made: dict = {}  # see `labels`
        self.response_models = BoundedValues(MAX_RESPONSE_MODELS)
        self._tenant_sets: set = set()

    def labels(self, call) -> tuple:
        """The labels of a call's points: (all, input tokens, output tokens). The same for every
        call of one model on one host, so made once and kept (bounded); never changed."""
        response_model = call.response_model if isinstance(call.response_model, str) else None
        key = (call.operation, call.host, call.port, call.adapter.api, call.request_model, response_model)
        labels = self._made.get(key)
        if labels is None:
            common = {GenAI.GEN_AI_OPERATION_NAME: call.operation, GenAI.GEN_AI_PROVIDER_NAME: PROVIDER,
                      server_attributes.SERVER_ADDRESS: call.host, API_ATTRIBUTE: call.adapter.api}
            if call.request_model:
                common[GenAI.GEN_AI_REQUEST_MODEL] = call.request_model
            if response_model is not None:  # the server names it: bounded
                common[GenAI.GEN_AI_RESPONSE_MODEL] = self.response_models(clean_text(response_model) or "")
            if call.port:
                common[server_attributes.SERVER_PORT] = call.port
            labels = (common, {**common, GenAI.GEN_AI_TOKEN_TYPE: "input"},
                      {**common, GenAI.GEN_AI_TOKEN_TYPE: "output"})
            if len(self._made) >= 1024:  # models and hosts come and go: stay bounded
                self._made.clear()
            self._made[key] = labels
        return labels

    def energy(self, call, found: Measurement, common: dict, context) -> None:
        """Joules, watts, grams of CO2e and dollars; the named baggage entries (a tenant) go on
        these points only, not on the GenAI ones."""
        metrics = self.instruments
        if not metrics.records:
            return
        labels = self._with_tenant(common, call.tenant) if call.tenant else common
        if found.joules is not None:
            metrics.energy.record(found.joules, labels, context)
        if found.watts is not None:
            metrics.power.record(found.watts, labels, context)
        if found.carbon_g is not None:
            metrics.carbon.record(found.carbon_g, labels, context)
        if found.cost_usd is not None:
            metrics.cost.record(found.cost_usd, labels, context)

    def _with_tenant(self, common: dict, tenant: dict) -> dict:
        """Each tenant value is bounded already; their sets with the other labels are bounded too
        (MAX_TENANT_SETS): beyond, the values others chose (tenant, response model) are OTHER."""
        key = (*common.values(), *tenant.values())
        if key in self._tenant_sets or len(self._tenant_sets) < MAX_TENANT_SETS:
            self._tenant_sets.add(key)
            return {**common, **tenant}
        overflow = {**common, **dict.fromkeys(tenant, OTHER)}
        if GenAI.GEN_AI_RESPONSE_MODEL in overflow:
            overflow[GenAI.GEN_AI_RESPONSE_MODEL] = OTHER
        return overflow

    def quota(self, call, headers, found: Measurement | None) -> None:
        """The quota gauges' last values for the call's server: the headers', or the allowance the
        body's cost object stated."""
        energy_remaining, allowance = headers.quota()
        if found is not None and found.cost is not None:
            body_allowance = found.allowance_usd
            if body_allowance is not None:
                allowance = body_allowance
        if energy_remaining is not None:
            self.instruments.energy_remaining[call.host] = energy_remaining
        if allowance is not None:
            self.instruments.allowance_remaining[call.host] = allowance

    def client(self, call, elapsed: float, first_chunk: float | None, labels: tuple, context,
               error: BaseException | None) -> None:
        """The GenAI client points: duration; and, for a call that succeeded, token usage and the
        stream timings. Time per output chunk is one point per stream (the mean gap after the first
        chunk), not one per chunk: a histogram record per chunk would cost more than the stream."""
        metrics = self.instruments
        if not metrics.records:
            return
        common = labels[0]
        metrics.duration.record(elapsed, common, context)
        if error is not None:
            return
        if count(call.input_tokens):
            metrics.token_usage.record(call.input_tokens, labels[1], context)
        if count(call.output_tokens):
            metrics.token_usage.record(call.output_tokens, labels[2], context)
        if first_chunk is not None:
            metrics.time_to_first_chunk.record(first_chunk, common, context)
            if call.output_chunks:
                per_chunk = (call.started + elapsed - call.first_chunk_at) / call.output_chunks
                metrics.time_per_output_chunk.record(per_chunk, common, context)
