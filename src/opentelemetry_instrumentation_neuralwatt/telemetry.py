"""The telemetry contract: span attributes, metric instruments and their bucket boundaries.

`Telemetry` holds the tracer and instruments of one `instrument()` call; an `Invocation` is one
request's span and metric attributes, ended exactly once however the request ends.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Optional

from opentelemetry import context, trace
from opentelemetry.metrics import get_meter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import collect
from .energy import Measurement
from .version import __version__

logger = logging.getLogger(__name__)

PROVIDER = "neuralwatt"

# Histogram boundaries, chosen from what Neuralwatt reports: a chat request is ~1-100 J,
# hundreds of watts to a few kW, and well under a gram of CO2e or a cent.
ENERGY_BUCKETS_J = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000]
POWER_BUCKETS_W = [10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600]
CARBON_BUCKETS_G = [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
COST_BUCKETS_USD = [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5]
# The GenAI semantic conventions' advisory boundaries.
DURATION_BUCKETS_S = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

# Request parameters recorded on the span when the caller passed them.
_REQUEST_PARAMETERS = {
    "max_tokens": GenAI.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": GenAI.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": GenAI.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": GenAI.GEN_AI_REQUEST_TOP_P,
    "frequency_penalty": GenAI.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": GenAI.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": GenAI.GEN_AI_REQUEST_SEED,
    "n": GenAI.GEN_AI_REQUEST_CHOICE_COUNT,
}


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

    def start(self, operation: str, model: Any, host: str, port: Optional[int],
              traced: bool, kwargs: dict) -> "Invocation":
        return Invocation(self, operation, model if isinstance(model, str) else None, host, port, traced, kwargs)


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model (pydantic, extra keys included) or of a decoded JSON dict."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class Invocation:
    """One call: a span when the endpoint is Neuralwatt's, metric attributes, ended once."""

    __slots__ = (
        "telemetry", "span", "operation", "request_model", "host", "port", "started",
        "response_model", "response_id", "finish_reasons", "input_tokens", "output_tokens",
        "output_text", "data_energy", "data_cost", "ended", "collector", "_token",
    )

    def __init__(self, telemetry: Telemetry, operation: str, model: Optional[str], host: str,
                 port: Optional[int], traced: bool, kwargs: dict):
        self.telemetry = telemetry
        self.operation = operation
        self.request_model = model
        self.host = host
        self.port = port
        self.response_model = None
        self.response_id = None
        self.finish_reasons: Optional[list] = None
        self.input_tokens = None
        self.output_tokens = None
        self.output_text: Optional[dict] = None
        self.data_energy = self.data_cost = None
        self.ended = False
        self.collector = collect.current.get()
        self._token = None
        self.span = None
        if traced:
            self.span = telemetry.tracer.start_span(
                f"{operation} {model}" if model else operation,
                kind=SpanKind.CLIENT,
                attributes=self._request_attributes(kwargs),
            )
            if telemetry.capture_content:
                self.output_text = {}
        self.started = time.perf_counter()

    def _request_attributes(self, kwargs: dict) -> dict:
        attributes = {
            GenAI.GEN_AI_OPERATION_NAME: self.operation,
            GenAI.GEN_AI_PROVIDER_NAME: PROVIDER,
            server_attributes.SERVER_ADDRESS: self.host,
        }
        if self.request_model:
            attributes[GenAI.GEN_AI_REQUEST_MODEL] = self.request_model
        if self.port:
            attributes[server_attributes.SERVER_PORT] = self.port
        for name, attribute in _REQUEST_PARAMETERS.items():
            value = kwargs.get(name)
            # SDK "omit" sentinels and None are not values.
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[attribute] = value
        if kwargs.get("stream") is True:
            attributes[GenAI.GEN_AI_REQUEST_STREAM] = True
        if self.telemetry.capture_content:
            prompt = kwargs.get("messages", kwargs.get("prompt", kwargs.get("input")))
            if prompt is not None:
                attributes[GenAI.GEN_AI_INPUT_MESSAGES] = _to_json(prompt)
        return attributes

    # -- the span is current while the SDK sends the request, so HTTP spans nest under it --
    def activate(self) -> None:
        # A no-op tracer's invalid span is not made current: it would hide the caller's span.
        if self.span is not None and self.span.get_span_context().is_valid:
            self._token = context.attach(trace.set_span_in_context(self.span))

    def deactivate(self) -> None:
        if self._token is not None:
            context.detach(self._token)
            self._token = None

    # -- what the response says --
    def observe(self, chunk: Any) -> None:
        """A whole response or one stream chunk, of any shape: an SDK model, decoded JSON."""
        if self.response_id is None:
            self.response_id = _get(chunk, "id")
            self.response_model = _get(chunk, "model")
        choices = _get(chunk, "choices")
        if choices:
            for choice in choices:
                reason = _get(choice, "finish_reason")
                if reason:
                    if self.finish_reasons is None:
                        self.finish_reasons = []
                    self.finish_reasons.append(reason)
                if self.output_text is not None:
                    self._keep_output(choice)
        usage = _get(chunk, "usage")
        if usage is not None:
            self.input_tokens = _get(usage, "prompt_tokens")
            self.output_tokens = _get(usage, "completion_tokens")
        energy, cost = _get(chunk, "energy"), _get(chunk, "cost")
        if energy is not None:
            self.data_energy = energy
        if cost is not None:
            self.data_cost = cost

    def observe_chunk(self, chunk: Any) -> None:
        """One chunk of an SDK stream, or an SDK chat/completion response. Runs for every chunk,
        so it only reads attributes; another shape raises AttributeError and the caller falls
        back to `observe`. The top-level fields are read before anything is kept, so that
        fallback never counts a finish reason twice."""
        choices, usage = chunk.choices, chunk.usage
        if self.response_id is None:
            self.response_id = chunk.id
            self.response_model = chunk.model
        for choice in choices:
            if choice.finish_reason is not None:
                if self.finish_reasons is None:
                    self.finish_reasons = []
                self.finish_reasons.append(choice.finish_reason)
            if self.output_text is not None:
                self._keep_output(choice)
        if usage is not None:
            self.input_tokens = usage.prompt_tokens
            self.output_tokens = usage.completion_tokens
        extra = getattr(chunk, "__pydantic_extra__", None)
        if extra:  # a response's energy, or a server that puts it inside a data chunk
            self.data_energy = extra.get("energy", self.data_energy)
            self.data_cost = extra.get("cost", self.data_cost)

    def _keep_output(self, choice: Any) -> None:
        message = _get(choice, "delta") or _get(choice, "message")
        text = _get(message, "content") if message is not None else _get(choice, "text")
        if isinstance(text, str):
            index = _get(choice, "index") or 0
            self.output_text[index] = self.output_text.get(index, "") + text

    # -- the end --
    def end(self, found: Optional[Measurement] = None, error: Optional[BaseException] = None) -> None:
        """End the span and record metrics, once; later calls do nothing."""
        if self.ended:
            return
        self.ended = True
        if found is not None and self.collector is not None:
            self.collector.append(found)
        try:
            self._finish(found, error)
        except Exception:
            logger.debug("neuralwatt: ending telemetry failed", exc_info=True)

    def _finish(self, found: Optional[Measurement], error: Optional[BaseException]) -> None:
        elapsed = time.perf_counter() - self.started
        telemetry = self.telemetry
        metric_attributes = {
            GenAI.GEN_AI_OPERATION_NAME: self.operation,
            GenAI.GEN_AI_PROVIDER_NAME: PROVIDER,
            server_attributes.SERVER_ADDRESS: self.host,
        }
        if self.request_model:
            metric_attributes[GenAI.GEN_AI_REQUEST_MODEL] = self.request_model
        if isinstance(self.response_model, str):
            metric_attributes[GenAI.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.port:
            metric_attributes[server_attributes.SERVER_PORT] = self.port

        if found is not None:
            for instrument, value in (
                (telemetry.energy, found.joules),
                (telemetry.power, found.watts),
                (telemetry.carbon, found.carbon_g),
                (telemetry.cost, found.cost_usd),
            ):
                if value is not None:
                    instrument.record(value, metric_attributes)

        span = self.span
        if span is None:  # not a Neuralwatt endpoint: its energy is counted, nothing else is ours
            return
        if error is not None:
            metric_attributes[error_attributes.ERROR_TYPE] = type(error).__qualname__
        telemetry.duration.record(elapsed, metric_attributes)
        if error is None:
            for token_type, count in (("input", self.input_tokens), ("output", self.output_tokens)):
                if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                    telemetry.token_usage.record(
                        count, {**metric_attributes, GenAI.GEN_AI_TOKEN_TYPE: token_type}
                    )

        if span.is_recording():
            attributes = self._response_attributes()
            if found is not None:
                attributes.update(found.attributes)
            if error is not None:
                attributes[error_attributes.ERROR_TYPE] = type(error).__qualname__
                span.set_status(Status(StatusCode.ERROR, str(error)[:512]))
            span.set_attributes(attributes)
        span.end()

    def _response_attributes(self) -> dict:
        attributes = {}
        if isinstance(self.response_model, str):
            attributes[GenAI.GEN_AI_RESPONSE_MODEL] = self.response_model
        if isinstance(self.response_id, str):
            attributes[GenAI.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attributes[GenAI.GEN_AI_RESPONSE_FINISH_REASONS] = [str(r) for r in self.finish_reasons]
        for attribute, count in (
            (GenAI.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens),
            (GenAI.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens),
        ):
            if isinstance(count, int) and not isinstance(count, bool):
                attributes[attribute] = count
        if self.output_text:
            attributes[GenAI.GEN_AI_OUTPUT_MESSAGES] = _to_json(
                [{"role": "assistant", "parts": [{"type": "text", "content": text}]}
                 for _, text in sorted(self.output_text.items())]
            )
        return attributes


def _to_json(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
