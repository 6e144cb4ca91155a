"""What the live service sends besides the energy object, and the attribute names it gets: MCR
session data (`: mcr-session` comments, a top-level `mcr` object), MCR status frames, the service
tier (its response headers: headers.py). Everything is untrusted: a value of the wrong shape is
dropped, never raised on.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .payload import scalar

MCR_PREFIX = "neuralwatt.mcr."
SERVICE_TIER = "neuralwatt.response.service_tier"
STATUS_EVENTS = "neuralwatt.mcr.status_events"
STATUS_EVENT = "neuralwatt.mcr.status"
MAX_TEXT = 256
MAX_HEADERS = 64  # MCR headers kept from one response
SNAKE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")  # attribute names made from wire names


def session_attributes(payload: Any) -> dict:
    """`: mcr-session {...}` or a top-level `mcr` object -> `neuralwatt.mcr.<key>`."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if len(payload) <= 16_384 else None
        except ValueError:
            return {}
    if not isinstance(payload, dict):
        return {}
    attributes = {}
    for key, value in list(payload.items())[:MAX_HEADERS]:
        valid = scalar(value)
        if isinstance(key, str) and SNAKE.match(key) and valid is not None:
            attributes[MCR_PREFIX + key] = valid
    return attributes


def status_event(text: Any) -> dict:
    """One `event: mcr-status` frame as span-event attributes: its JSON fields, or its text."""
    if not isinstance(text, str):
        return {}
    try:
        payload = json.loads(text) if len(text) <= 16_384 else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return {"text": text[:MAX_TEXT]}
    attributes = {}
    for key, value in list(payload.items())[:MAX_HEADERS]:
        valid = scalar(value)
        if isinstance(key, str) and SNAKE.match(key) and valid is not None:
            attributes[key] = valid
    return attributes
