"""`NeuralwattInstrumentor`: switches the adapters' hooks on and off, with the options it is given."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Collection
from importlib import metadata

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from . import deferred, sse
from .adapters import ADAPTERS
from .calls import state
from .client_hooks import client_targets
from .endpoints import Endpoints
from .package import _instruments_any
from .patching import unwrap, wrap
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
HIDE_MCR_STATUS_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS"


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() == "true"


# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, as util-genai (the official GenAI
# instrumentations) reads it, and as `true`/`false`. We record content on spans only, never as
# events: EVENT_ONLY captures nothing of ours.
_CAPTURE_VALUES = {"true": True, "span_only": True, "span_and_event": True,
                   "false": False, "no_content": False, "event_only": False, "": False}


def capture_content() -> bool:
    value = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower()
    if value not in _CAPTURE_VALUES:
        logger.warning("neuralwatt: %s=%r is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, "
                       "SPAN_AND_EVENT: message content is not captured", CAPTURE_CONTENT_ENV, value)
        return False
    return _CAPTURE_VALUES[value]

# (module, "Class.method", wrapper), made once so that ours can be told apart from other
# instrumentors' wrappers on the same method, grouped by the SDK package they patch.
_TARGETS: dict = {}
for _adapter in ADAPTERS:
    for _target in _adapter.targets():
        _TARGETS.setdefault(_target[0].split(".")[0], []).append(_target)
for _package in _TARGETS:
    _TARGETS[_package] += client_targets(_package)


def _patch_on_import(package: str, _module: object) -> None:
    _patch(package)


def _patch(package: str) -> None:
    if state.telemetry is None:  # an import hook that fires after uninstrument()
        return
    for module_name, path, hook in _TARGETS[package]:
        wrap(module_name, path, hook)


class NeuralwattInstrumentor(BaseInstrumentor):
    """Instruments the `openai` and `anthropic` SDKs for Neuralwatt energy telemetry.

    `instrument()` accepts `tracer_provider`, `meter_provider`, `hosts` (extra Neuralwatt
    hosts, `host` or `host:port`, besides api.neuralwatt.com, the host of NEURALWATT_API_BASE
    and OTEL_INSTRUMENTATION_NEURALWATT_HOSTS) and `hide_mcr_status` (keep `event: mcr-status`
    frames from the user's iteration; OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS).
    """

    # True while the instrumentation was switched on by the `llm` plugin rather than by the
    # application: an explicit `instrument(...)` then replaces it, with its providers and options.
    _implicit = False

    def instrument(self, **kwargs):
        implicit = bool(kwargs.pop("_implicit", False))
        if self.is_instrumented_by_opentelemetry and NeuralwattInstrumentor._implicit and not implicit:
            self.uninstrument()
        if not self.is_instrumented_by_opentelemetry:
            NeuralwattInstrumentor._implicit = implicit
        return super().instrument(**kwargs)

    def instrumentation_dependencies(self) -> Collection[str]:
        # Either SDK is enough: the requirement of each one installed, or all of them (a
        # conflict, so nothing is instrumented) when none is.
        installed = []
        for requirement in _instruments_any:
            try:
                metadata.version(requirement.split()[0])
            except metadata.PackageNotFoundError:
                continue
            installed.append(requirement)
        return tuple(installed) or _instruments_any

    def _instrument(self, **kwargs):
        capture = capture_content()
        hide = kwargs.get("hide_mcr_status")
        sse.options.hide_mcr_status = _flag(HIDE_MCR_STATUS_ENV) if hide is None else bool(hide)
        state.endpoints = Endpoints(kwargs.get("hosts"))  # raises on a mistaken hosts= argument
        state.addresses = {}
        state.telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), capture)
        deferred.start()
        for package in _TARGETS:
            if package in sys.modules or package == "openai":
                _patch(package)
            else:  # an SDK imported later is patched when it is imported, if we are still on
                wrapt.register_post_import_hook(functools.partial(_patch_on_import, package), package)

    def _uninstrument(self, **kwargs):
        state.telemetry = None
        deferred.stop()
        sse.options.hide_mcr_status = False
        for targets in _TARGETS.values():
            for module_name, path, hook in targets:
                if module_name.split(".")[0] in sys.modules:
                    unwrap(module_name, path, hook)
