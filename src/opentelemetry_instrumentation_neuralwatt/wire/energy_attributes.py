"""The span attributes of a Neuralwatt `energy` / `cost` payload: every valid field under its
contract name (unknown ones too, bounded), and what was dropped named in one debug line."""

from __future__ import annotations

import logging
from typing import Any

from .fields import (
    COST_NUMBERS,
    COST_PREFIX,
    ENERGY_FIELDS,
    ENERGY_PREFIX,
    FIELD_NAME,
    KNOWN_ATTRIBUTES,
    MAX_EXTRA_FIELDS,
    MAX_MCR_FIELDS,
    MEASURED,
    MEASURED_ATTRIBUTE,
)
from .payload import MAX_STRING_CHARS, AttributeValue, clean_text, number, scalar

logger = logging.getLogger(__name__)


class _Builder:
    """Collects valid attributes and remembers what was dropped, for one debug line."""

    def __init__(self) -> None:
        self.attributes: dict[str, AttributeValue] = {}
        self.dropped: list[str] = []
        self.budgets: dict[str, int] = {}  # prefix -> fields left

    def drop(self, name: str) -> None:
        self.dropped.append(name)

    def extra(self, prefix: str, name: Any, value: Any, nested: bool = False) -> None:
        """An unknown field: scalars become attributes; one level of objects (`mcr`) is flattened,
        each object with a bound of its own."""
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            self.drop(repr(name)[:40])
            return
        if isinstance(value, dict) and not nested:
            for inner_name, inner_value in list(value.items())[:4 * MAX_MCR_FIELDS]:
                self.extra(f"{prefix}{name}.", inner_name, inner_value, nested=True)
            return
        valid = scalar(value)
        left = self.budgets.get(prefix, MAX_MCR_FIELDS if nested else MAX_EXTRA_FIELDS)
        if valid is None or left <= 0 or prefix + name in KNOWN_ATTRIBUTES:
            self.drop(name)
            return
        self.budgets[prefix] = left - 1
        self.attributes[prefix + name] = valid


# Cost fields: wire name -> (attribute name, lowest and highest valid value).
_COST_FIELDS = {name: (COST_PREFIX + name, low, high) for name, (low, high) in COST_NUMBERS.items()}


def attributes(energy: dict | None, cost: dict | None) -> dict[str, AttributeValue]:
    """Every valid field of decoded payloads as a span attribute; what is dropped is logged. One
    look per field, and a `_Builder` only for a payload with an unknown or invalid field: this
    runs for every request a kept span records."""
    attributes: dict[str, AttributeValue] = {}
    out: _Builder | None = None
    if energy is not None:
        measured = energy.get(MEASURED)
        if type(measured) is bool:
            attributes[MEASURED_ATTRIBUTE] = measured
        elif MEASURED in energy:
            out = _Builder()
            out.drop(MEASURED)
        numbers_count = measured is not False  # an unmeasured request's placeholder zeros are not data
        for name, value in energy.items():
            known = ENERGY_FIELDS.get(name)
            if known is None:
                if name != MEASURED:
                    out = out or _Builder()
                    out.extra(ENERGY_PREFIX, name, value)
                continue
            kind, attribute, high = known
            if kind is float:
                if type(value) is not float or not 0.0 < value <= high:  # the usual value: taken as it is
                    value = number(value, 0.0, high)
                if value is not None and numbers_count:
                    attributes[attribute] = value
                    continue
            elif kind is str:
                text = value[:MAX_STRING_CHARS] if type(value) is str and value.isascii() else clean_text(value)
                if text:
                    attributes[attribute] = text
                    continue
            elif type(value) is bool:
                attributes[attribute] = value
                continue
            out = out or _Builder()
            out.drop(name)

    if cost is not None:
        for name, value in cost.items():
            known_cost = _COST_FIELDS.get(name)
            if known_cost is None:
                out = out or _Builder()
                out.extra(COST_PREFIX, name, value)
                continue
            attribute, low, high = known_cost
            if type(value) is not float or not (low <= value <= high and value):
                value = number(value, low, high)
                if value is None:
                    out = out or _Builder()
                    out.drop(f"cost.{name}")
                    continue
            attributes[attribute] = value

    if out is not None:
        attributes.update(out.attributes)
        if out.dropped:
            logger.debug("neuralwatt: dropped invalid energy/cost fields: %s", ", ".join(out.dropped[:20]))
    return attributes
