"""Put each `llm` call's energy and cost into its `response_json`, so it lands in logs.db.

llm's own OpenAI-compatible models (`Chat`, `AsyncChat`, `Completion`, `Responses`: the ones this
package registers for Neuralwatt, and any set up in `extra-openai-models.yaml`) keep the JSON body of a
non-streaming answer, energy included, but build a stream's `response_json` from its chunks, so
the `: energy` comment is lost. Their `execute` is wrapped here: the requests it starts collect
their measurements (see `telemetry/blocks.py`), and when it finishes, the energy and cost objects the
server sent are added to `response_json` unless it already has them.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging

import wrapt

from ..telemetry.steps import astepped, stepped
from ..wire.energy import Measurement

logger = logging.getLogger(__name__)

class Collected(list):
    """The measurements of the calls of llm's `execute`, in the order they ended (a block's sink)."""

    def add(self, found: Measurement | None) -> None:
        if found is not None:
            self.append(found)


def _response_of(args, kwargs):
    return kwargs["response"] if "response" in kwargs else args[2]


def _json_safe(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def inject(response, collected) -> None:
    """Add the last collected energy/cost to `response.response_json`, never overwriting."""
    try:
        body = getattr(response, "response_json", None)
        if not collected or not isinstance(body, dict):
            return
        found = collected[-1]
        for key, payload in (("energy", found.energy), ("cost", found.cost)):
            if payload is not None and key not in body and _json_safe(payload):
                body[key] = payload
    except Exception:
        logger.debug("neuralwatt: could not add energy to response_json", exc_info=True)


def execute_with_energy(wrapped, instance, args, kwargs):
    """Runs llm's generator one step at a time with a collector open, then injects."""
    collected = Collected()
    yield from stepped(collected, wrapped(*args, **kwargs))
    inject(_response_of(args, kwargs), collected)


async def aexecute_with_energy(wrapped, instance, args, kwargs):
    collected = Collected()
    async with contextlib.aclosing(astepped(collected, wrapped(*args, **kwargs))) as each:
        async for item in each:
            yield item
    inject(_response_of(args, kwargs), collected)


def with_energy(execute):
    """llm's `execute` (a generator function, or an async one) wrapped to capture energy; an
    `execute` wrapped already is returned as it is."""
    if getattr(execute, "_self_wrapper", None) in (execute_with_energy, aexecute_with_energy):
        return execute
    hook = aexecute_with_energy if inspect.isasyncgenfunction(execute) else execute_with_energy
    return wrapt.FunctionWrapper(execute, hook)
