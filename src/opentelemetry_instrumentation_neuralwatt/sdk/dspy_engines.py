"""dspy with a custom engine: one that makes its own HTTP calls to a Neuralwatt host cannot be
measured, and is named once in a warning rather than recorded as a silent zero.

Sync and async twins (`attempt`/`aattempt`): shells around the shared `_custom_engine` and `_unmeasured`."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from ..call.begin import state
from ..telemetry.measure import measure
from .dspy_requests import PORTS

logger = logging.getLogger(__name__)


def attempt(wrapped, instance, args, kwargs):
    engine = _custom_engine(args)
    if engine is None:
        return wrapped(*args, **kwargs)
    with measure() as seen:
        result = wrapped(*args, **kwargs)
    _unmeasured(engine, seen)
    return result


async def aattempt(wrapped, instance, args, kwargs):
    engine = _custom_engine(args)
    if engine is None:
        return await wrapped(*args, **kwargs)
    with measure() as seen:
        result = await wrapped(*args, **kwargs)
    _unmeasured(engine, seen)
    return result


_warned: set = set()


def _custom_engine(args: tuple) -> str | None:
    """The name of `_attempt(lm, call, backend, ...)`'s backend if it is a custom engine (not
    dspy's) with a Neuralwatt URL among its attributes, not named yet."""
    try:
        name = type(engine := args[2]).__qualname__
        if state.telemetry is None or type(engine).__module__.startswith("dspy.") or name in _warned:
            return None
        for value in getattr(engine, "__dict__", {}).values():
            if isinstance(value, str) and "://" in value:
                parts = urlsplit(value)
                if parts.hostname and state.endpoints.matches(parts.hostname, parts.port or PORTS.get(parts.scheme)):
                    return name
    except Exception:
        logger.debug("neuralwatt: could not look at a dspy engine", exc_info=True)
    return None


def _unmeasured(name: str, seen: measure) -> None:
    """The attempt succeeded and no call of ours ended inside it: the engine made its own requests."""
    if not seen.requests and name not in _warned and len(_warned) < 64:
        _warned.add(name)
        logger.warning("neuralwatt: dspy's custom engine %s makes its own HTTP calls to a Neuralwatt host; their "
                       "energy is not measured (dspy's own engines are: engine='auto', 'lm15' or 'litellm')", name)
