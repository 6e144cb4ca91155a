"""The span attributes of a Neuralwatt `energy` / `cost` payload: every valid field under its
contract name (unknown ones too, bounded), and what was dropped named in one debug line."""

from __future__ import annotations

import logging
from typing import Any

from .fields import (
    COST_NUMBERS,
    COST_PREFIX,
    ENERGY_FIELDS,
    ENERGY_NUMBERS,
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


def attributes(energy: dict | None, cost: dict | None) -> dict[str, AttributeValue]:
    """Every valid field of decoded payloads as a span attribute; what is dropped is logged."""
    out = _Builder()
    attributes = out.attributes
    measured = None

    if energy is not None:
        measured_value = energy.get(MEASURED)
        if isinstance(measured_value, bool):
            measured = measured_value
            attributes[MEASURED_ATTRIBUTE] = measured_value
        elif MEASURED in energy:
            out.drop(MEASURED)
        # An unmeasured request may still carry placeholder zeros: they are not data.
        numbers_count = measured is not False
        for name, value in energy.items():
            if type(value) is float and numbers_count:  # the usual field: a known number, in bounds
                number_field = ENERGY_NUMBERS.get(name)
                if number_field is not None and 0.0 < value <= number_field[1]:
                    attributes[number_field[0]] = value
                    continue
            known = ENERGY_FIELDS.get(name)  # one look per field: this runs for every request
            if known is None:
                if name != MEASURED:
                    out.extra(ENERGY_PREFIX, name, value)
                continue
            kind, attribute, high = known
            if kind is float:
                checked = number(value, 0.0, high)
                if checked is not None and numbers_count:
                    attributes[attribute] = checked
                else:
                    out.drop(name)
            elif kind is bool:
                if type(value) is bool:
                    attributes[attribute] = value
                else:
                    out.drop(name)
            else:
                text = value[:MAX_STRING_CHARS] if type(value) is str and value.isascii() else clean_text(value)
                if text:
                    attributes[attribute] = text
                else:
                    out.drop(name)

    if cost is not None:
        for name, value in cost.items():
            bounds = COST_NUMBERS.get(name)
            if bounds is not None:
                low, high = bounds
                checked = value if type(value) is float and low <= value <= high and value else number(value, low, high)
                if checked is None:
                    out.drop(f"cost.{name}")
                    continue
                attributes[COST_PREFIX + name] = checked
            else:
                out.extra(COST_PREFIX, name, value)

    if out.dropped:
        logger.debug("neuralwatt: dropped invalid energy/cost fields: %s", ", ".join(out.dropped[:20]))
    return attributes

