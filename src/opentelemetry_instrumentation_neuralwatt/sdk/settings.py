"""What the environment says, read one way: a bad value is one WARNING per process naming the
variable, the value and what is used instead, and never an exception, so a mistaken setting never
switches the instrumentation off (under `opentelemetry-instrument` an exception would). Booleans
read as the OpenTelemetry SDK reads its own: `true` or `false`, in any case."""

from __future__ import annotations

import logging
import os
import re

logger = logging.getLogger(__name__)

HOSTS = "OTEL_INSTRUMENTATION_NEURALWATT_HOSTS"
HIDE_MCR_STATUS = "OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS"
ROLLUP = "OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP"
BAGGAGE_KEYS = "OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS"
BAGGAGE_MAX_VALUES = "OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_MAX_VALUES"
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
API_BASE = "NEURALWATT_API_BASE"

_warned: set = set()


def warn_once(variable: str, value: str, instead: str) -> None:
    """One WARNING per process for this variable and value."""
    if (variable, value) in _warned or len(_warned) > 256:
        return
    _warned.add((variable, value))
    logger.warning("neuralwatt: %s=%r is not valid: %s", variable, value, instead)


def text(variable: str) -> str:
    return os.environ.get(variable, "").strip()


def flag(variable: str, default: bool = False) -> bool:
    value = text(variable)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value:
        warn_once(variable, value, f"true or false, so {str(default).lower()} is used")
    return default


def whole_number(variable: str, default: int, minimum: int = 1) -> int:
    value = text(variable)
    if not value:
        return default
    if value.isdigit() and int(value) >= minimum:
        return int(value)
    warn_once(variable, value, f"a whole number of at least {minimum}, so {default} is used")
    return default


# A W3C baggage key: an HTTP token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def names(variable: str) -> tuple[str, ...]:
    """A comma-separated list of baggage keys; a name that cannot be a key is left out."""
    given = [name.strip() for name in text(variable).split(",") if name.strip()]
    bad = [name for name in given if not _TOKEN.match(name)]
    if bad:
        warn_once(variable, text(variable), f"{', '.join(map(repr, bad))} cannot be baggage keys and are left out")
    return tuple(dict.fromkeys(name for name in given if name not in bad))


# As util-genai (the official GenAI instrumentations) reads it, and `true`/`false`. We record
# content on spans only, never as events: EVENT_ONLY captures nothing of ours.
_CAPTURE_VALUES = {"true": True, "span_only": True, "span_and_event": True,
                   "false": False, "no_content": False, "event_only": False, "": False}


def capture_content() -> bool:
    value = text(CAPTURE_CONTENT)
    if value.lower() not in _CAPTURE_VALUES:
        warn_once(CAPTURE_CONTENT, value, "not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, "
                                          "SPAN_AND_EVENT, so message content is not captured")
        return False
    return _CAPTURE_VALUES[value.lower()]
