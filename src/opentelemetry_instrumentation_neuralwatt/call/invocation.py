"""One API call as a neutral record, whatever the API shape, and its lifecycle.

An adapter fills the record from its API's request, response and stream events; `end()` hands it
to `Telemetry.finish` exactly once, however the call ends. The span is either our own (started
when the call starts) or *adopted*: someone else's span already records the call (the anthropic
SDK's own, or an opentelemetry-util-genai invocation's; see `foreign.py`), and one call must not
get two GenAI spans, so ours goes on that span instead.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import context, trace

from ..telemetry import blocks, foreign
from ..wire import sse
from ..wire.energy import Measurement, measurement
from ..wire.headers import ResponseHeaders
from . import hops

if TYPE_CHECKING:  # pragma: no cover
    from contextvars import Token

    from opentelemetry.context import Context

    from ..telemetry.recorder import Telemetry

logger = logging.getLogger(__name__)

# The call of ours the SDK is running now: its `_process_response` hook (and anthropic's span
# adoption, see `Invocation.adopt`) find it here; and while a stream a client middleware makes is
# read, the requests that middleware sends are this call's (see hops.py).
pending: ContextVar[Invocation | None] = ContextVar("neuralwatt_pending_call", default=None)


class Invocation:
    """One call: what was asked, what came back, and the span that says so."""

    __slots__ = (
        "telemetry", "adapter", "operation", "request_model", "host", "port", "traced",
        "request_attributes", "started", "started_ns", "span", "adopted", "parent_span",
        "response_model", "response_id", "finish_reasons", "input_tokens", "output_tokens",
        "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "output_text", "output_tools",
        "data_energy", "data_cost", "data_mcr", "service_tier", "decoder", "headers", "reports",
        "first_chunk_at", "output_chunks", "response", "ended", "blocks", "on_end", "_token", "_read_headers",
        "genai", "client", "tenant", "failing", "hops", "started_in", "in_context",
    )

    def __init__(self, telemetry: Telemetry, adapter: Any, operation: str, model: str | None,
                 host: str, port: int | None, traced: bool, request_attributes: dict | None,
                 current: Context | None = None, defer_span: bool = False, genai: Any = None,
                 client: Any = None, tenant: dict | None = None):
        self.telemetry = telemetry
        self.adapter = adapter
        self.operation = operation
        self.request_model = model
        self.host = host
        self.port = port
        self.traced = traced
        self.request_attributes = request_attributes
        self.response_model = self.response_id = self.finish_reasons = None
        self.input_tokens = self.output_tokens = None
        self.cache_read_tokens = self.cache_write_tokens = self.reasoning_tokens = None
        # Only when message content is captured: the answer's text and tool calls, per choice.
        self.output_text: dict | None = {} if traced and telemetry.capture_content else None
        self.output_tools: dict | None = {} if self.output_text is not None else None
        self.data_energy = self.data_cost = self.data_mcr = self.service_tier = self.decoder = None
        self.headers = self._read_headers = None  # the HTTP response's headers, read once at the end
        self.reports: list = []
        self.hops: list | None = None  # the streams a client middleware read for this call (hops.py)
        # Streams: when the first chunk with content came (perf_counter), and the chunks after it.
        self.first_chunk_at: float | None = None
        self.output_chunks = 0
        self.response: Any = None  # a whole response the SDK processed, before it returned
        self.ended = False
        # Whose span records this call when it is not ours: None (ours), foreign.SDK or foreign.GENAI.
        self.adopted: str | None = None
        self.genai = genai  # util-genai's data object for the call, when it records the call
        self.client = client  # its API key is never in anything we record (see span_attributes.describe)
        self.tenant = tenant  # the named baggage entries as the call started (attribution.py)
        self.failing: BaseException | None = None  # a stream helper's error, while the rest is read
        self.on_end = None  # what to run once our telemetry is done (an adapter's hand-back)
        self.blocks = blocks.current(current)  # `measure()` blocks and collectors open as the call starts
        self._token: Token[Context] | None = None
        self.span = None
        self.parent_span = None
        self.started_ns = 0
        self.started_in = current  # the context the call started in
        self.in_context: Context | None = None  # that context with the call's span, once made current
        self.started = time.perf_counter()
        if traced:
            if genai is not None:
                self.span, self.adopted = trace.get_current_span(current), foreign.GENAI
            elif defer_span:
                # The SDK will start its own span inside the call; `adopt` takes it. Until then
                # nothing is started, and a call the SDK did not trace gets ours, back-dated.
                self.parent_span = trace.get_current_span(current)
                self.started_ns = time.time_ns()
            else:  # last: once the span has started, nothing of ours runs before the call owns it
                self.span = telemetry.start_span(self, context=current)

    # -- the span is current while the SDK sends the request, so HTTP spans nest under it --
    def activate(self) -> None:
        # A no-op tracer's invalid span is not made current: it would hide the caller's span.
        try:
            if self.span is not None and not self.adopted and self.span.get_span_context().is_valid:
                # The context the call started in, with its span: current while the SDK sends the
                # request, and the metric points' (exemplars).
                self.in_context = trace.set_span_in_context(self.span, self.started_in)
                self._token = context.attach(self.in_context)
        except Exception:  # a tracer whose spans raise costs the user's call nothing
            logger.debug("neuralwatt: could not make the span current", exc_info=True)

    def deactivate(self) -> None:
        if self._token is not None:
            context.detach(self._token)
            self._token = None

    def adopt(self, span: Any) -> None:
        """Use the SDK's own span of this call (current while the SDK makes the request)."""
        if self.span is None and self.parent_span is not None and span is not self.parent_span \
                and span.get_span_context().is_valid:
            self.span, self.adopted = span, foreign.SDK

    # -- the end --
    def response_headers(self) -> ResponseHeaders | None:
        """The response's Neuralwatt headers, read once (None before a response arrived)."""
        if self._read_headers is None and self.headers is not None:
            self._read_headers = ResponseHeaders(self.headers)
        return self._read_headers

    def finish(self, error: BaseException | None = None) -> None:
        """End with everything the response reported: energy and cost from the body, a data
        chunk or the stream's comments, the cost headers when the body had none."""
        if self.ended:
            return
        found = None
        try:
            found = self._found()
        except Exception:
            logger.debug("neuralwatt: could not read the reported energy", exc_info=True)
        finally:  # whatever happened while reading (an interrupt too), the call ends
            self.end(found, error)

    def _found(self) -> Measurement | None:
        headers = self.response_headers()
        if self.hops:  # a middleware read the responses (hops.py): the stream the user got has no comments
            found = hops.measured(self.hops, headers.cost if headers is not None else None)
            if found is not None:
                return found
        if self.decoder is None:  # a whole response: one report at most
            cost = self.data_cost  # the headers' cost only when the body has none (read only then)
            return measurement(self.data_energy, cost if cost is not None or headers is None else headers.cost)
        found, self.reports = sse.captured_all(self.decoder, self.data_energy, self.data_cost,
                                               headers.cost if headers is not None else None)
        return found

    def end(self, found: Measurement | None = None, error: BaseException | None = None) -> None:
        """Record the span attributes and metrics, and end the span, once; later calls do nothing.
        Once `ended` is set, our span ends whatever happens on the way (an interrupt too): its
        `end()` is in this frame's `finally`, not in a function that might be entered too late."""
        if self.ended:
            return
        self.ended = True
        try:
            if self.blocks and (self.traced or found is not None):  # Neuralwatt's, or it reported energy
                for block in self.blocks:
                    block.add(found)
            if self.span is None and self.started_ns:
                self.span = self.telemetry.start_span(self, self.started_ns)
            self.telemetry.record(self, found, error)
        except Exception:
            logger.debug("neuralwatt: ending telemetry failed", exc_info=True)
        finally:
            try:
                if self.span is not None and not self.adopted:
                    self.span.end()
            except Exception:  # a tracer whose spans raise costs the user's call nothing
                logger.debug("neuralwatt: could not end the span", exc_info=True)
            finally:
                on_end, self.on_end, self.response = self.on_end, None, None  # keep no response alive
                if on_end is not None:
                    on_end()
