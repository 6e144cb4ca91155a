"""Per-tenant attribution (opt-in): W3C baggage entries the user names (`tenant.id`, `enduser.id`),
present in the context when a call starts, go onto its span and onto its `neuralwatt.*` metric
points as attributes of the same name.

Bounded, because every distinct value is a metric series: at most `max_values` distinct values
per key per process (100 by default); later ones are recorded as `_other` (see `BoundedValues`).
Values are cleaned (printable text, at most 64 characters); an empty one is left out.
"""

from __future__ import annotations

import threading

from opentelemetry import baggage

from ..wire.payload import clean_text

OTHER = "_other"
MAX_VALUE_CHARS = 64
DEFAULT_MAX_VALUES = 100


class BoundedValues:
    """The values one label takes on metric points, at most `limit` distinct ones: later ones are
    OTHER. A value that begins with `_` gets one more, so no value is ever taken for OTHER
    (`_other` is recorded as `__other`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value[:1] == "_":
            value = "_" + value
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


class Attribution:
    def __init__(self, keys: tuple[str, ...], max_values: int = DEFAULT_MAX_VALUES) -> None:
        self.keys = keys
        self.max_values = max_values
        self._bounded = {key: BoundedValues(max_values) for key in keys}

    def attributes(self) -> dict[str, str]:
        """The named baggage entries of the current context, bounded."""
        found: dict[str, str] = {}
        for key in self.keys:
            value = clean_text(baggage.get_baggage(key), MAX_VALUE_CHARS)
            if value:
                value = "".join(c if c.isprintable() else "?" for c in value.strip())
            if value:
                found[key] = self._bounded[key](value)
        return found


def parse_keys(keys: object) -> tuple[str, ...]:
    """`baggage_keys=` as a list of names, or a comma-separated string (the environment's form)."""
    if keys is None:
        return ()
    if isinstance(keys, str):
        keys = keys.split(",")
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"baggage_keys must be a list of baggage key names, not {keys!r}")
    return tuple(dict.fromkeys(k.strip() for k in keys if k.strip()))
