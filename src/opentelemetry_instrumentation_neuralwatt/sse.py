"""The `SSEDecoder.decode` hook: keep what the SDK throws away, on the decoder of that stream.

Neuralwatt ends a stream with `: energy {...}` and `: cost {...}` SSE comments, which the SDK
drops. Each `Stream` has its own decoder, and the raw payload text is stored on that decoder:
energy can never cross from one request to another. Parsing happens once, when the stream ends.

The wrapt wrapper goes on the decoder *instance* of each stream we hand out, not on the class:
a `FunctionWrapper` on the class is a descriptor, so the SDK's `self.decode(line)` would build a
new bound wrapper for every line (measured: twice the per-line cost of this form), and streams
we never see (other endpoints of the SDK, other libraries) would pay for it too.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import wrapt

from .energy import Measurement, measurement

logger = logging.getLogger(__name__)

# Attributes set on an `openai._streaming.SSEDecoder` instance.
ENERGY_COMMENT = "_neuralwatt_energy"
COST_COMMENT = "_neuralwatt_cost"


def hook_decoder(decoder: Any) -> None:
    """Put the hook in front of this decoder's `decode`, once. A decoder without one (the
    SDK's `SSEBytesDecoder` protocol allows other shapes) is left alone."""
    try:
        decode = getattr(decoder, "decode", None)
        if decode is None or getattr(decode, "_self_wrapper", None) is decode_hook:
            return
        decoder.decode = wrapt.FunctionWrapper(decode, decode_hook)
    except Exception:  # a decoder that refuses attributes keeps working without us
        logger.debug("neuralwatt: could not hook an SSE decoder", exc_info=True)


def decode_hook(wrapped, decoder, args, kwargs):
    # Runs for every line of a stream: one slice and compare, then the SDK's own decode.
    try:
        if args[0][:1] == ":":
            _remember_comment(decoder, args[0])
    except Exception:  # never let capture break decoding
        logger.debug("neuralwatt: SSE capture failed", exc_info=True)
    return wrapped(*args, **kwargs)


def _remember_comment(decoder: Any, line: str) -> None:
    body = line[1:].lstrip()
    if body.startswith("energy"):
        name, payload = ENERGY_COMMENT, body[6:]
    elif body.startswith("cost"):
        name, payload = COST_COMMENT, body[4:]
    else:  # keep-alives (`: ping`) and other comments (`: mcr-session {...}`)
        return
    if payload[:1] in (" ", "\t", "{"):
        setattr(decoder, name, payload)


def captured(decoder: Any, data_energy: Any = None, data_cost: Any = None) -> Optional[Measurement]:
    """The measurement of one stream: its decoder's comments, else an `energy` / `cost` that
    arrived inside a data chunk (passed in by the stream proxy), else None."""
    energy = cost = None
    if decoder is not None:
        # llm-neuralwatt's decoder subclass consumes `: energy` itself and keeps it as `energy_data`.
        energy = getattr(decoder, ENERGY_COMMENT, None) or getattr(decoder, "energy_data", None)
        cost = getattr(decoder, COST_COMMENT, None)
    if energy is None:
        energy = data_energy
    if cost is None:
        cost = data_cost
    if energy is None and cost is None:
        return None
    return measurement(energy, cost)
