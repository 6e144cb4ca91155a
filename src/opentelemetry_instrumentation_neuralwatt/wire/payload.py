"""Untrusted payload text and values: JSON objects parsed within bounds, numbers and strings made
valid attribute values. Used for the energy and cost payloads and everything else the wire sends."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

logger = logging.getLogger(__name__)

AttributeValue = str | bool | int | float

# Longest energy/cost JSON we parse: real payloads are a few hundred bytes.
MAX_PAYLOAD_CHARS = 16_384
MAX_STRING_CHARS = 256


def load_payload(raw: Any, _unwrapped: bool = False) -> dict | None:
    """A JSON object from raw payload text (or an already decoded dict), else None. One rule for
    every place a payload comes from (a body's field, a data chunk, a stream comment): the text
    of a JSON object, or that text as a JSON string, is read the same."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return None
    if len(raw) > MAX_PAYLOAD_CHARS:
        logger.debug("neuralwatt: dropped a %d-character payload (limit %d)", len(raw), MAX_PAYLOAD_CHARS)
        return None
    value = parse_json(raw)
    if isinstance(value, str) and not _unwrapped:  # `"energy": "{...}"`: JSON text, once more
        return load_payload(value, True)
    if not isinstance(value, dict):
        logger.debug("neuralwatt: dropped a payload that is not a JSON object")
        return None
    return value


def parse_json(text: str) -> Any:
    """A JSON value, or None; an object nested deeper than the parser goes keeps the members that
    parse (a hostile payload cannot take a valid `energy_joules` down with it)."""
    try:
        return json.loads(text)
    except RecursionError:
        return _shallow_members(text)
    except ValueError as error:
        logger.debug("neuralwatt: dropped malformed payload JSON: %s", error)
        return None


# A JSON string, or one of the characters that open, close or separate members.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')
_MAX_TOKENS = 1_000_000  # the structure of a hostile payload is followed this far, no further


def _shallow_members(raw: str) -> dict | None:
    """The members of a JSON object whose values parse, leaving out those nested too deep. Strings
    are skipped in C (one regex token each); only the structure is walked here, bounded."""
    text = raw.strip()
    if not text.startswith("{"):
        return None
    members: dict = {}
    depth, start = 0, 1
    for count, token in enumerate(_TOKENS.finditer(text)):
        char = token.group()[0]
        if char == '"':
            continue
        if count > _MAX_TOKENS:
            break
        depth += 1 if char in "[{" else -1 if char in "]}" else 0
        if (char == "," and depth == 1) or depth == 0:
            member, start = text[start:token.start()], token.end()
            try:
                members.update(json.loads("{" + member + "}"))
            except (ValueError, RecursionError):
                pass  # this member alone: dropped
            if depth == 0:
                break
    return members


def number(value: Any, low: float, high: float) -> float | None:
    # Exact types: JSON true/false are bools, never measurements. The bounds are finite, so
    # the comparison also rejects NaN and infinities.
    kind = type(value)
    if kind is int:
        if not low <= value <= high:  # compared as int first: a 400-digit int overflows float()
            return None
        value = float(value)
    elif kind is not float:
        return None
    if value == 0.0 and math.copysign(1.0, value) < 0.0:  # -0.0: negative where that is invalid, else 0.0
        return None if low >= 0.0 else 0.0
    return value if low <= value <= high else None


def clean_text(value: Any, limit: int = MAX_STRING_CHARS) -> str | None:
    """A string as an attribute can carry it: cut to `limit`, and text that is not valid UTF-8
    (lone surrogates, which exporters refuse) has those characters replaced by "?"."""
    if type(value) is str and value.isascii():  # the usual case: ASCII is valid UTF-8 as it is
        return value[:limit]
    if not isinstance(value, str):
        return None
    value = value[:limit]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def scalar(value: Any) -> AttributeValue | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    return None
