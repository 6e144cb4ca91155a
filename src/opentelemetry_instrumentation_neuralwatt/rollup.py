"""Roll-up (opt-in): every in-process ancestor span of a Neuralwatt call that is still recording
gets the sums over the calls beneath it, `neuralwatt.total.*`, so the web framework's SERVER span
and an agent framework's run span show what their work cost.

The OpenTelemetry API gives a span no way to its parent object, so a span processor on the SDK
tracer provider remembers, for each open span, the span it was started under; it forgets a span
when it ends. When a call ends, its span's chain of open ancestors is walked and each gets its
new sums. Spans started before `instrument()` are not in the chain.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry import trace

from .energy import Measurement

logger = logging.getLogger(__name__)

JOULES = "neuralwatt.total.joules"
REQUESTS = "neuralwatt.total.requests"
COST = "neuralwatt.total.cost_usd"
CARBON = "neuralwatt.total.carbon_g_co2eq"
MAX_DEPTH = 64  # a chain longer than this is not walked further


class Ancestry:
    """A span processor: open spans and the span each was started under (a SpanProcessor's
    interface, without importing the SDK, which this package does not depend on)."""

    def __init__(self) -> None:
        self.enabled = True
        self._parents: dict[int, Any] = {}  # span id -> parent span object (open ones only)
        self._totals: dict[int, list] = {}  # span id -> [joules, requests, cost, carbon]
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.enabled:
            parent = trace.get_current_span(parent_context)
            if parent.get_span_context().is_valid:
                self._parents[span.get_span_context().span_id] = parent

    def on_end(self, span: Any) -> None:
        span_id = span.get_span_context().span_id
        self._parents.pop(span_id, None)
        self._totals.pop(span_id, None)

    def shutdown(self) -> None:
        self._parents.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _on_ending(self, span: Any) -> None:  # newer SDKs call this before on_end
        pass

    def add(self, span: Any, found: Measurement | None) -> None:
        """A call whose span is `span` ended: add it to every open ancestor's sums."""
        joules = found.joules if found is not None and found.measured is not False else None
        cost = found.cost_usd if found is not None else None
        carbon = found.carbon_g if found is not None else None
        ancestor = self._parents.get(span.get_span_context().span_id)
        with self._lock:
            for _ in range(MAX_DEPTH):
                if ancestor is None:
                    break
                span_id = ancestor.get_span_context().span_id
                if ancestor.is_recording():
                    totals = self._totals.setdefault(span_id, [0.0, 0, 0.0, 0.0])
                    totals[0] += joules or 0.0
                    totals[1] += 1
                    totals[2] += cost or 0.0
                    totals[3] += carbon or 0.0
                    ancestor.set_attributes({JOULES: totals[0], REQUESTS: totals[1], COST: totals[2],
                                             CARBON: totals[3]})
                ancestor = self._parents.get(span_id)


_installed: dict[int, Ancestry] = {}  # id(tracer provider) -> its processor (an SDK cannot remove one)


def install(tracer_provider: Any) -> Ancestry | None:
    """The roll-up processor on this tracer provider (the global one when None), or None when it
    takes no processors (not the SDK's): then roll-up cannot work, and a warning says so."""
    provider = tracer_provider or trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        logger.warning("neuralwatt: roll-up needs the OpenTelemetry SDK's TracerProvider (got %s): "
                       "no neuralwatt.total.* attributes will be recorded", type(provider).__name__)
        return None
    ancestry = _installed.get(id(provider))
    if ancestry is None:
        ancestry = _installed[id(provider)] = Ancestry()
        add(ancestry)
    ancestry.enabled = True
    return ancestry


def disable_all() -> None:
    """On `uninstrument()`: the processors stay on their providers, doing nothing."""
    for ancestry in _installed.values():
        ancestry.enabled = False
        ancestry.shutdown()
