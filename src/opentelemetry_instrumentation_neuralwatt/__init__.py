"""OpenTelemetry instrumentation that records the energy Neuralwatt reports for every request.

Usage::

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    NeuralwattInstrumentor().instrument()

Each call to a Neuralwatt endpoint through the `openai` SDK (chat completions, legacy
completions, embeddings; sync and async; streaming and not) gets a CLIENT span with the GenAI
semantic-convention attributes and `neuralwatt.energy.*` / `neuralwatt.cost.*` attributes, and
its joules, watts, grams of CO2e and dollars are recorded as histograms.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Collection

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from .completions import async_wrapper, state, sync_wrapper
from .endpoints import Endpoints
from .package import _instruments
from .telemetry import Telemetry
from .version import __version__

__all__ = ["NeuralwattInstrumentor", "__version__"]

logger = logging.getLogger(__name__)

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# (module, attribute, wrapper). Wrappers are made once, so that ours can be told apart from
# other instrumentors' wrappers on the same method.
_TARGETS = [
    ("openai.resources.chat.completions", "Completions.create", sync_wrapper("chat")),
    ("openai.resources.chat.completions", "AsyncCompletions.create", async_wrapper("chat")),
    ("openai.resources.chat.completions", "Completions.parse", sync_wrapper("chat")),
    ("openai.resources.chat.completions", "AsyncCompletions.parse", async_wrapper("chat")),
    ("openai.resources.completions", "Completions.create", sync_wrapper("text_completion")),
    ("openai.resources.completions", "AsyncCompletions.create", async_wrapper("text_completion")),
    ("openai.resources.embeddings", "Embeddings.create", sync_wrapper("embeddings")),
    ("openai.resources.embeddings", "AsyncEmbeddings.create", async_wrapper("embeddings")),
]


def _owner(module_name: str, path: str):
    """The class that holds the method, and the method's name; None if this SDK lacks it."""
    class_name, method = path.split(".")
    try:
        owner = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None, method
    return (owner if method in vars(owner) else None), method


def _chain(function):
    """The wrappers stacked on a method, outermost first (wrapt proxies and functools.wraps)."""
    while function is not None:
        yield function
        function = getattr(function, "__wrapped__", None)


def _ours_in_chain(function, hook) -> bool:
    return any(getattr(f, "_self_wrapper", None) is hook for f in _chain(function))


# wrapt 2 splits the proxy base from the public ObjectProxy; wrapt 1 has only ObjectProxy.
_PROXY = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)
# (class, method) -> the attribute as it was before our wrapper went on.
_originals: dict = {}


def _innermost_proxy(function):
    """The wrapper closest to the SDK's own function, or None if the method is not wrapped."""
    innermost = None
    for link in _chain(function):
        if not isinstance(link, _PROXY):
            break
        innermost = link
    return innermost


def _wrap(module_name: str, path: str, hook) -> None:
    owner, method = _owner(module_name, path)
    if owner is None:
        logger.debug("neuralwatt: %s.%s not in this openai version", module_name, path)
        return
    current = vars(owner)[method]
    if _ours_in_chain(current, hook):  # left in place, switched off, by an earlier uninstrument()
        return
    innermost = _innermost_proxy(current)
    if innermost is None:
        wrapt.wrap_function_wrapper(owner, method, hook)
        _originals[(owner, method)] = current
    else:
        # Another instrumentation wrapped this method first. Ours goes under it, next to the
        # SDK's function, because instrumentors that undo themselves by removing whatever wrapper
        # is on top (opentelemetry.instrumentation.utils.unwrap) would otherwise remove ours.
        original = innermost.__wrapped__
        innermost.__wrapped__ = wrapt.FunctionWrapper(original, hook)
        _originals[(owner, method)] = original


def _unwrap(module_name: str, path: str, hook) -> None:
    """Remove our wrapper only, wherever it sits among other instrumentors' wrappers."""
    owner, method = _owner(module_name, path)
    original = _originals.get((owner, method))
    if owner is None or original is None:
        return
    parent = None
    for function in _chain(vars(owner)[method]):
        if getattr(function, "_self_wrapper", None) is hook:
            if parent is None:
                setattr(owner, method, original)
            elif isinstance(parent, _PROXY):
                # A wrapper put on after ours wraps what attribute access gave it: the
                # class-bound form of what it found, so splice in that form of the original.
                parent.__wrapped__ = original.__get__(None, owner)
            else:  # a plain decorator sits on top of us: we stay, switched off by `state`
                return
            del _originals[(owner, method)]
            return
        parent = function


class NeuralwattInstrumentor(BaseInstrumentor):
    """Instruments the `openai` SDK for Neuralwatt energy telemetry.

    `instrument()` accepts `tracer_provider`, `meter_provider` and `hosts` (extra Neuralwatt
    hosts, `host` or `host:port`, besides api.neuralwatt.com, the host of NEURALWATT_API_BASE
    and OTEL_INSTRUMENTATION_NEURALWATT_HOSTS).
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs):
        capture = os.environ.get(CAPTURE_CONTENT_ENV, "false").strip().lower() == "true"
        state.endpoints = Endpoints(kwargs.get("hosts") or ())
        state.addresses = {}
        state.telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), capture)
        for module_name, path, hook in _TARGETS:
            _wrap(module_name, path, hook)

    def _uninstrument(self, **kwargs):
        state.telemetry = None
        for module_name, path, hook in _TARGETS:
            _unwrap(module_name, path, hook)
