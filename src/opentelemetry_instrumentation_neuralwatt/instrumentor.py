"""`NeuralwattInstrumentor`: switches the adapters' hooks on and off, with the options it is given."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Collection
from importlib import metadata

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from .call import deferred
from .call.begin import state
from .package import _instruments_any
from .sdk import settings
from .sdk.adapters import ADAPTERS
from .sdk.client_hooks import client_targets
from .sdk.endpoints import Endpoints
from .sdk.patching import unwrap, wrap
from .telemetry import rollup as ancestry
from .telemetry.labels import DEFAULT_MAX_VALUES, Attribution, parse_keys
from .telemetry.recorder import Telemetry
from .version import __version__
from .wire import sse

logger = logging.getLogger(__name__)

# instrument()'s options: ours, and those BaseInstrumentor (and opentelemetry-instrument) pass.
OPTIONS = ("tracer_provider", "meter_provider", "hosts", "hide_mcr_status", "rollup", "baggage_keys",
           "baggage_max_values")
_BASE_OPTIONS = ("skip_dep_check", "raise_exception_on_conflict", "_implicit")


def _attribution(kwargs: dict) -> Attribution | None:
    """`baggage_keys=` / OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS, and the bound on distinct
    values per key (`baggage_max_values=` / ..._BAGGAGE_MAX_VALUES, 100 by default)."""
    given = kwargs.get("baggage_keys")
    keys = parse_keys(given) if given is not None else settings.names(settings.BAGGAGE_KEYS)
    if not keys:
        return None
    bound = kwargs.get("baggage_max_values")
    if bound is None:
        bound = settings.whole_number(settings.BAGGAGE_MAX_VALUES, DEFAULT_MAX_VALUES)
    elif type(bound) is not int or bound < 1:  # the caller's own code: a clear error there
        raise ValueError(f"baggage_max_values must be a whole number of at least 1, not {bound!r}")
    return Attribution(keys, bound)


def _unknown_options(kwargs: dict) -> None:
    unknown = sorted(set(kwargs) - set(OPTIONS) - set(_BASE_OPTIONS))
    if unknown:
        logger.warning("neuralwatt: instrument() ignores %s: its options are %s", ", ".join(map(repr, unknown)),
                       ", ".join(OPTIONS))


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
    telemetry: `NeuralwattInstrumentor().instrument()`; see `instrument` for its options."""

    # True while the instrumentation was switched on by the `llm` plugin rather than by the
    # application: an explicit `instrument(...)` then replaces it, with its providers and options.
    _implicit = False

    def instrument(self, *, tracer_provider=None, meter_provider=None, hosts=None, hide_mcr_status=None,
                   rollup=None, baggage_keys=None, baggage_max_values=None, **kwargs):
        """Switch the instrumentation on; calling it again while it is on does nothing.

        tracer_provider, meter_provider: where spans and metrics go (default: the global ones).
        hosts: more Neuralwatt hosts (`host`, `host:port` or a URL; one, or a list), besides
            api.neuralwatt.com, the host of NEURALWATT_API_BASE and
            OTEL_INSTRUMENTATION_NEURALWATT_HOSTS.
        hide_mcr_status: keep `event: mcr-status` frames out of the streams you iterate
            (OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS).
        rollup: `neuralwatt.total.*` sums on every ancestor span of a call
            (OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP).
        baggage_keys, baggage_max_values: W3C baggage entries put on spans and `neuralwatt.*`
            points, at most so many distinct values per key, 100 by default
            (OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS, ..._BAGGAGE_MAX_VALUES).

        A keyword it does not know is named in a warning. A bad environment value is named in a
        warning and its default used; a bad argument value raises here, in your code.
        """
        given = {"tracer_provider": tracer_provider, "meter_provider": meter_provider, "hosts": hosts,
                 "hide_mcr_status": hide_mcr_status, "rollup": rollup, "baggage_keys": baggage_keys,
                 "baggage_max_values": baggage_max_values}
        kwargs.update({name: value for name, value in given.items() if value is not None})
        _unknown_options(kwargs)
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
        capture = settings.capture_content()
        hide = kwargs.get("hide_mcr_status")
        sse.options.hide_mcr_status = settings.flag(settings.HIDE_MCR_STATUS) if hide is None else bool(hide)
        state.endpoints = Endpoints(kwargs.get("hosts"))  # raises on a mistaken hosts= argument
        state.addresses = {}
        telemetry = Telemetry(__version__, kwargs.get("tracer_provider"), kwargs.get("meter_provider"), capture)
        telemetry.attribution = _attribution(kwargs)  # raises on mistaken baggage_* arguments
        rollup = kwargs.get("rollup")
        if (settings.flag(settings.ROLLUP) if rollup is None else bool(rollup)):
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
