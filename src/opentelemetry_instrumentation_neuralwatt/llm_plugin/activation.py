"""The `llm` plugin switches energy capture on at the first call of a model, not when llm loads it.

Until then each of llm's OpenAI model classes carries a stand-in `execute`: the first call (of
any of them, from any thread) imports the instrumentation, instruments the SDKs and puts each
class's own `execute` back, wrapped to capture energy (see `capture.py`).
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

# llm's OpenAI-compatible model classes, whose calls may go to Neuralwatt: their own `execute`,
# kept while a stand-in waits for the first call (see `activate`).
_EXECUTE_OWNERS = ("Chat", "AsyncChat", "Completion", "Responses", "AsyncResponses")
_waiting: dict = {}
_switched_on = False
_activating = threading.Lock()


def wait_for_first_call() -> None:
    """Put the stand-ins in place, once. Called from the hooks, not at import: llm imports its
    OpenAI models after loading plugins, and importing them (with openai) from inside this
    module's import would run all of that one plugin-loading stack deeper, which on CPython 3.11
    costs thousands of frame-stack chunk allocations (measured: +4% on `llm --help`)."""
    with _activating:
        if _waiting or _switched_on:
            return
        from llm.default_plugins import openai_models

        for name in _EXECUTE_OWNERS:
            owner = getattr(openai_models, name, None)  # older llm releases lack some of them
            if isinstance(owner, type) and "execute" in vars(owner):
                _switch_on_at_first_call(owner)


def _switch_on_at_first_call(owner: type) -> None:
    def execute(self, *args, **kwargs):
        activate()  # puts the class's own execute back (wrapped), so this runs once
        return getattr(owner, "execute")(self, *args, **kwargs)  # noqa: B009 (looked up now, not before)

    _waiting[owner] = vars(owner)["execute"]
    execute.__doc__ = _waiting[owner].__doc__
    setattr(owner, "execute", execute)  # noqa: B010 (a method replaced on purpose)


def activate() -> None:
    """Capture energy for llm: instrument the SDKs (unless already done, for example by
    `opentelemetry-instrument`, whose providers then receive the spans) and wrap llm's models."""
    global _switched_on
    with _activating:  # first calls at once: one switches on, the others wait for it here
        if _switched_on:
            return
        _switched_on = True
        capture = None
        try:
            from .. import NeuralwattInstrumentor
            from . import capture as llm_capture

            instrumentor = NeuralwattInstrumentor()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(_implicit=True)  # an application's own instrument() replaces it
            capture = llm_capture.with_energy
        except Exception:
            logger.debug("neuralwatt: could not activate energy capture for llm", exc_info=True)
        # Each stand-in is replaced in one step, by the wrapped method ready to run: a call that
        # looks `execute` up meanwhile finds the stand-in, and so waits above.
        while _waiting:
            owner, execute = _waiting.popitem()
            try:
                setattr(owner, "execute", capture(execute) if capture else execute)  # noqa: B010
            except Exception:
                setattr(owner, "execute", execute)  # noqa: B010
                logger.debug("neuralwatt: could not wrap %s.execute", owner.__name__, exc_info=True)
