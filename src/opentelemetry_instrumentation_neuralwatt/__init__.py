"""OpenTelemetry instrumentation that records the energy Neuralwatt reports for every request.

Usage::

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    NeuralwattInstrumentor().instrument()

    with measure() as usage:        # what a block of work cost, summed over its calls
        ...
    usage.joules, usage.requests

Each call to a Neuralwatt endpoint through the `openai` SDK (chat completions, legacy
completions, embeddings, the Responses API), the `anthropic` SDK (Messages) or dspy's own engine
gets a CLIENT span with the GenAI semantic-convention attributes and `neuralwatt.energy.*` /
`neuralwatt.cost.*` attributes, and its joules, watts, grams of CO2e and dollars are recorded as histograms.
The code is one telemetry core (`invocation`, `telemetry`, `calls`, `streams`, `sse`, `energy`)
and one adapter per API shape (`adapters/`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .instrumentor import NeuralwattInstrumentor
    from .usage import measure

__all__ = ["NeuralwattInstrumentor", "__version__", "measure"]


def __getattr__(name: str):
    # Imported on first use, not with the package: the `llm` plugin lives in this package, and
    # loading it must not cost every `llm` command the instrumentation's (and the SDKs') imports.
    if name == "NeuralwattInstrumentor":
        from .instrumentor import NeuralwattInstrumentor

        return NeuralwattInstrumentor
    if name == "measure":  # energy, carbon and cost summed over a block of work (usage.py)
        from .usage import measure

        return measure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
