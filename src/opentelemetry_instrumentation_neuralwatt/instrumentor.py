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
from . import rollup as ancestry
from .adapters import ADAPTERS
from .attribution import DEFAULT_MAX_VALUES, Attribution, parse_keys
from .calls import state
from .client_hooks import client_targets
from .endpoints import Endpoints
from .package import _instruments_any
from .patching import unwrap, wrap
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
HIDE_MCR_STATUS_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS"
ROLLUP_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP"
BAGGAGE_KEYS_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS"
BAGGAGE_MAX_VALUES_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_MAX_VALUES"


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() == "true"


# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, as util-genai (the official GenAI
# instrumentations) reads it, and as `true`/`false`. We record content on spans only, never as
# events: EVENT_ONLY captures nothing of ours.
_CAPTURE_VALUES = {"true": True, "span_only": True, "span_and_event": True,
                   "false": False, "no_content": False, "event_only": False, "": False}


def _attribution(kwargs: dict) -> Attribution | None:
    """`baggage_keys=` / OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS, and the bound on distinct
    values per key (`baggage_max_values=` / ..._BAGGAGE_MAX_VALUES, 100 by default)."""
    keys = parse_keys(kwargs["baggage_keys"] if "baggage_keys" in kwargs else os.environ.get(BAGGAGE_KEYS_ENV))
    if not keys:
        return None
    bound = kwargs.get("baggage_max_values")
    if bound is None:
        text = os.environ.get(BAGGAGE_MAX_VALUES_ENV, "").strip()
        bound = int(text) if text.isdigit() else DEFAULT_MAX_VALUES
        if text and not text.isdigit():
            logger.warning("neuralwatt: %s=%r is not a whole number: %d distinct values per key",
                           BAGGAGE_MAX_VALUES_ENV, text, bound)
    if type(bound) is not int or bound < 1:
        raise ValueError(f"baggage_max_values must be a whole number of at least 1, not {bound!r}")
    return Attribution(keys, bound)


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
for _package in ("openai", "anthropic"):  # their base clients (dspy's engine is hooked by its adapter alone)
    _TARGETS[_package] += client_targets(_package)


def _patch_on_import(package: str, _module: object) -> None:
    _patch(package)


_import_hooks: set = set()  # packages with a post-import hook: one each per process, however many cycles


def _patch(package: str) -> None:
    if state.telemetry is None:  # an import hook that fires after uninstrument()
        return
    for module_name, path, hook in _TARGETS[package]:
        wrap(module_name, path, hook)


class NeuralwattInstrumentor(BaseInstrumentor):
    """Instruments the `openai` and `anthropic` SDKs, and dspy's native engine, for Neuralwatt energy
    telemetry.

    `instrument()` accepts `tracer_provider`, `meter_provider`, `hosts` (extra Neuralwatt
    hosts, `host` or `host:port`, besides api.neuralwatt.com, the host of NEURALWATT_API_BASE
    and OTEL_INSTRUMENTATION_NEURALWATT_HOSTS) and `hide_mcr_status` (keep `event: mcr-status`
    frames from the user's iteration; OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS), `rollup`
    (sums on every ancestor span; OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP), `baggage_keys` and
    `baggage_max_values` (per-tenant attribution; OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS,
    ..._BAGGAGE_MAX_VALUES).
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
        telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), capture)
        telemetry.attribution = _attribution(kwargs)  # raises on mistaken baggage_* arguments
        rollup = kwargs.get("rollup")
        if (_flag(ROLLUP_ENV) if rollup is None else bool(rollup)):
            telemetry.rollup = ancestry.install(kwargs.get("tracer_provider"))
        state.telemetry = telemetry
        deferred.start()
        for package in _TARGETS:
            if package in sys.modules or package == "openai":
                _patch(package)
            elif package not in _import_hooks:  # an SDK imported later is patched when it is imported,
                _import_hooks.add(package)  # if we are still on then
                wrapt.register_post_import_hook(functools.partial(_patch_on_import, package), package)

    def _uninstrument(self, **kwargs):
        state.telemetry = None
        deferred.stop()
        ancestry.disable_all()
        sse.options.hide_mcr_status = False
        for targets in _TARGETS.values():
            for module_name, path, hook in targets:
                if module_name.split(".")[0] in sys.modules:
                    unwrap(module_name, path, hook)
