"""OpenTelemetry instrumentation that records the energy Neuralwatt reports for every request.

Usage::

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor, measure

    NeuralwattInstrumentor().instrument()

    with measure() as usage:        # what a block of work cost, summed over its calls
        ...
    usage.joules, usage.requests

Each call to a Neuralwatt endpoint through the `openai` SDK (chat completions, legacy
completions, embeddings, the Responses API), the `anthropic` SDK (Messages) or dspy's own engine
gets a CLIENT span with the GenAI semantic-convention attributes and `neuralwatt.energy.*` /
`neuralwatt.cost.*` attributes, and its joules, watts, grams of CO2e and dollars are recorded as
histograms.

The folders follow a call's path, each importing only the ones below it: `sdk` (where the SDKs
are hooked, one adapter per API shape), `call` (a call's life: begin, the proxies, the end),
`telemetry` (what we emit: spans, metrics, sums), `wire` (what the server sends, validated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .instrumentor import NeuralwattInstrumentor
    from .telemetry.measure import measure

__all__ = ["NeuralwattInstrumentor", "__version__", "measure"]


def __getattr__(name: str):
    # Imported on first use, not with the package: the `llm` plugin lives in this package, and
    # loading it must not cost every `llm` command the instrumentation's (and the SDKs') imports.
    if name == "NeuralwattInstrumentor":
        from .instrumentor import NeuralwattInstrumentor

        return NeuralwattInstrumentor
    if name == "measure":  # energy, carbon and cost summed over a block of work
        from .telemetry.measure import measure

        return measure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
