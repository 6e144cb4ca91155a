"""Roll-up (opt-in): every in-process ancestor span of a Neuralwatt call that is still recording
gets the sums over the calls beneath it, `neuralwatt.total.*`, so the web framework's SERVER span
and an agent framework's run span show what their work cost.

The OpenTelemetry API gives a span no way to its parent object, so a span processor on the SDK
tracer provider remembers, for each span started in this process, the chain of its local
ancestors (up to MAX_DEPTH), as weak references: a chain is found from the span object itself,
never from ids a caller can forge, and it stops at a remote parent, so nothing of one trace can
reach a span of another. What is remembered lives as long as the span object does (a span
dropped unended is forgotten with it; nothing of ours keeps a span alive), and at most
MAX_REMEMBERED live spans at once: a span started beyond that is not remembered (a warning says so
once), so a call beneath it rolls up nowhere. A middle span that ended first is skipped, not
the end of the chain: every ancestor still recording gets the sums. Spans started before
`instrument()` are not in any chain.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from opentelemetry import trace

from ..wire.energy import Measurement

logger = logging.getLogger(__name__)

JOULES = "neuralwatt.total.joules"
REQUESTS = "neuralwatt.total.requests"
COST = "neuralwatt.total.cost_usd"
CARBON = "neuralwatt.total.carbon_g_co2eq"
MAX_DEPTH = 64  # ancestors remembered per span
MAX_REMEMBERED = 100_000  # spans remembered at once, per tracer provider


class Ancestry:
    """A span processor: each live span's chain of local ancestors, and the sums of those that had
    calls beneath them (a SpanProcessor's interface, without importing the SDK, which this package
    does not depend on)."""

    def __init__(self) -> None:
        self.enabled = True
        # span -> (weak references to its ancestors, nearest first); and ancestor -> its sums
        self._chains: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._totals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._warned = False

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if not self.enabled:
            return
        parent = trace.get_current_span(parent_context)
        parent_context_ = parent.get_span_context()
        if not parent_context_.is_valid or parent_context_.is_remote:  # a root, or the end of this process's part
            return
        if len(self._chains) >= MAX_REMEMBERED:
            if not self._warned:
                self._warned = True
                logger.warning("neuralwatt: roll-up remembers at most %d live spans: calls under spans started "
                               "beyond that get no neuralwatt.total.* roll-up (are spans kept unended?)",
                               MAX_REMEMBERED)
            return
        try:
            chain = (weakref.ref(parent), *self._chains.get(parent, ()))[:MAX_DEPTH]
            self._chains[span] = chain
        except TypeError:  # a span type that takes no weak references: not remembered
            pass

    def on_end(self, span: Any) -> None:
        pass  # forgotten with the span object: a call beneath it may still end later

    def _on_ending(self, span: Any) -> None:  # newer SDKs call this before on_end
        pass

    def shutdown(self) -> None:
        with self._lock:
            self._chains.clear()
            self._totals.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def add(self, span: Any, found: Measurement | None) -> None:
        """A call whose span is `span` ended: add it to every ancestor still recording."""
        try:
            chain = self._chains.get(span)
        except TypeError:
            return
        if not chain:
            return
        joules = found.joules if found is not None and found.measured is not False else None
        cost = found.cost_usd if found is not None else None
        carbon = found.carbon_g if found is not None else None
        trace_id = span.get_span_context().trace_id
        with self._lock:
            for reference in chain:
                ancestor = reference()
                if ancestor is None or not ancestor.is_recording():  # gone, or ended first: skipped
                    continue
                if ancestor.get_span_context().trace_id != trace_id:  # never another trace's
                    break
                totals = self._totals.get(ancestor)
                if totals is None:
                    totals = self._totals[ancestor] = [0.0, 0, 0.0, 0.0]
                totals[0] += joules or 0.0
                totals[1] += 1
                totals[2] += cost or 0.0
                totals[3] += carbon or 0.0
                ancestor.set_attributes({JOULES: totals[0], REQUESTS: totals[1], COST: totals[2],
                                         CARBON: totals[3]})


# tracer provider -> its processor (an SDK provider cannot remove one); weak, so a provider's id
# reused after it is freed never finds the processor of another.
_installed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def install(tracer_provider: Any) -> Ancestry | None:
    """The roll-up processor on this tracer provider (the global one when None), or None when it
    takes no processors (not the SDK's): then roll-up cannot work, and a warning says so."""
    provider = tracer_provider or trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        logger.warning("neuralwatt: roll-up needs the OpenTelemetry SDK's TracerProvider (got %s): "
                       "no neuralwatt.total.* attributes will be recorded", type(provider).__name__)
        return None
    ancestry = _installed.get(provider)
    if ancestry is None:
        ancestry = _installed[provider] = Ancestry()
        add(ancestry)
    ancestry.enabled = True
    return ancestry


def disable_all() -> None:
    """On `uninstrument()`: the processors stay on their providers, doing nothing."""
    for ancestry in list(_installed.values()):
        ancestry.enabled = False
        ancestry.shutdown()
