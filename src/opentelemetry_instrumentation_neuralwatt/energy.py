"""Turn a Neuralwatt `energy` / `cost` payload into a validated, immutable measurement.

Everything the server sends is untrusted: a field that is missing, of the wrong type,
not finite, negative or beyond physical sense is dropped (and named in a debug log);
what is left becomes span attributes and metric values that are always valid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# Re-exported: the validation of single values lives in payload.py.
from .payload import (
    MAX_PAYLOAD_CHARS,
    MAX_STRING_CHARS,
    AttributeValue,
    clean_text,
    load_payload,
    number,
    parse_json,
    scalar,
)

__all__ = ["MAX_PAYLOAD_CHARS", "Measurement", "clean_text", "compact", "load_payload", "measurement", "select",
           "total"]

logger = logging.getLogger(__name__)


# Unknown fields become attributes too, but only so many, with short names and values. Known
# fields never count against this bound, whatever their order on the wire; `energy.mcr` (Managed
# Context Runtime metrics, ~20 keys, "field set may evolve") has a bound of its own.
MAX_EXTRA_FIELDS = 64
MAX_MCR_FIELDS = 64
# Attribute names made from wire names: lower-case, digits and underscores, nothing else (\Z,
# not $, which would let a trailing newline through).
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")

ENERGY_PREFIX = "neuralwatt.energy."
COST_PREFIX = "neuralwatt.cost."

# Known numeric energy fields: wire name -> (attribute name, largest plausible value).
# The bounds reject garbage, not big jobs: 1e9 J is ~278 kWh for a single request.
_ENERGY_NUMBERS = {
    "energy_joules": ("neuralwatt.energy.joules", 1e9),
    "energy_kwh": ("neuralwatt.energy.kwh", 1e9 / 3.6e6),
    "avg_power_watts": ("neuralwatt.energy.avg_power_watts", 1e7),
    "duration_seconds": ("neuralwatt.energy.duration_seconds", 7 * 86400.0),
    "attribution_ratio": ("neuralwatt.energy.attribution_ratio", 1.0),
    "carbon_g_co2eq": ("neuralwatt.energy.carbon_g_co2eq", 1e9),
    "grid_carbon_intensity_gco2perkwhr": ("neuralwatt.energy.grid_carbon_intensity", 10_000.0),
    # A capped multi-GPU attribution also reports the share before the cap.
    "uncapped_attribution_ratio": ("neuralwatt.energy.uncapped_attribution_ratio", 1.0),
    "uncapped_energy_joules": ("neuralwatt.energy.uncapped_energy_joules", 1e9),
    "uncapped_energy_kwh": ("neuralwatt.energy.uncapped_energy_kwh", 1e9 / 3.6e6),
    "cost_usd": ("neuralwatt.energy.cost_usd", 1e6),
}
_ENERGY_BOOLEANS = {"ratio_was_capped": "neuralwatt.energy.ratio_was_capped"}
_ENERGY_STRINGS = {
    "attribution_method": "neuralwatt.energy.attribution_method",
    "grid_id": "neuralwatt.energy.grid_id",
    "carbon_source": "neuralwatt.energy.carbon_source",
}
# Every known energy field: wire name -> (kind, attribute name, largest plausible value).
_ENERGY_FIELDS: dict[str, tuple[type, str, float]] = {
    **{name: (float, attribute, high) for name, (attribute, high) in _ENERGY_NUMBERS.items()},
    **{name: (bool, attribute, 0.0) for name, attribute in _ENERGY_BOOLEANS.items()},
    **{name: (str, attribute, 0.0) for name, attribute in _ENERGY_STRINGS.items()},
}
# Attribute names an unknown wire field must not take: "joules" would overwrite energy_joules' value.
_KNOWN_ATTRIBUTES = frozenset(attribute for _, attribute, _ in _ENERGY_FIELDS.values())
# The bounds of the fields that feed metrics.
_JOULES_HIGH, _WATTS_HIGH, _CARBON_HIGH = (_ENERGY_NUMBERS[name][1]
                                           for name in ("energy_joules", "avg_power_watts", "carbon_g_co2eq"))
_MEASURED = "measurement_available"
_MEASURED_ATTRIBUTE = "neuralwatt.energy.measurement_available"

# Cost fields: a request cost is never negative; balances may be.
_COST_NUMBERS = {
    "request_cost_usd": (0.0, 1e6),
    "cache_savings_usd": (0.0, 1e6),
    "allowance_remaining_usd": (-1e12, 1e12),
    "budget_remaining_usd": (-1e12, 1e12),
}
_COST_HIGH = _COST_NUMBERS["request_cost_usd"][1]
_ALLOWANCE_BOUNDS = _COST_NUMBERS["allowance_remaining_usd"]


class Measurement:
    """What one request reported: the values that feed metrics, and its span attributes.

    The metric values are checked at once, field by field; the span attributes (every field
    validated) are built when first asked for, so a call whose span is not kept (a sampler said
    no, or no tracer is set up) never pays for them. Either way they are the same values."""

    __slots__ = ("joules", "watts", "carbon_g", "cost_usd", "measured", "energy", "cost", "_attributes")

    def __init__(self, joules: float | None, watts: float | None, carbon_g: float | None, cost_usd: float | None,
                 measured: bool | None, energy: dict | None, cost: dict | None,
                 attributes: Mapping[str, AttributeValue] | None = None):
        self.joules, self.watts, self.carbon_g, self.cost_usd = joules, watts, carbon_g, cost_usd
        self.measured = measured
        # The decoded payloads exactly as the server sent them, for consumers that store them
        # verbatim (the `llm` plugin); never put on spans, where only `attributes` go.
        self.energy, self.cost = energy, cost
        self._attributes = attributes

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        if self._attributes is None:
            self._attributes = MappingProxyType(_attributes(self.energy, self.cost))
        return self._attributes

    @property
    def allowance_usd(self) -> float | None:
        """The allowance balance in the body's cost object, when it sent a valid one."""
        return number(self.cost.get("allowance_remaining_usd"), *_ALLOWANCE_BOUNDS) if self.cost is not None else None

    def __repr__(self) -> str:
        return f"Measurement(joules={self.joules!r}, watts={self.watts!r}, cost_usd={self.cost_usd!r})"


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
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            self.drop(repr(name)[:40])
            return
        if isinstance(value, dict) and not nested:
            for inner_name, inner_value in list(value.items())[:4 * MAX_MCR_FIELDS]:
                self.extra(f"{prefix}{name}.", inner_name, inner_value, nested=True)
            return
        valid = scalar(value)
        left = self.budgets.get(prefix, MAX_MCR_FIELDS if nested else MAX_EXTRA_FIELDS)
        if valid is None or left <= 0 or prefix + name in _KNOWN_ATTRIBUTES:
            self.drop(name)
            return
        self.budgets[prefix] = left - 1
        self.attributes[prefix + name] = valid


def measurement(energy: Any = None, cost: Any = None) -> Measurement | None:
    """Validate an energy and/or cost payload (dicts or raw JSON text); None if nothing valid."""
    energy = _load(energy) if energy is not None else None
    cost = _load(cost) if cost is not None else None
    if energy is None and cost is None:
        return None
    joules = watts = carbon = cost_usd = measured = None
    whole = True  # every metric field the payload has is valid: the attributes can wait
    if energy is not None:
        measured = energy.get(_MEASURED)
        if type(measured) is not bool:
            measured = None
            whole = _MEASURED not in energy  # there, but neither true nor false
        if measured is not False:  # an unmeasured request's placeholder zeros are not data
            # A plain float in bounds, the usual value, is taken as it is; anything else is checked.
            get = energy.get
            joules, watts, carbon = get("energy_joules"), get("avg_power_watts"), get("carbon_g_co2eq")
            # (Strictly positive: a zero, and -0.0 above all, goes through `number`.)
            if not (type(joules) is float and 0.0 < joules <= _JOULES_HIGH):
                joules = number(joules, 0.0, _JOULES_HIGH)
            if not (type(watts) is float and 0.0 < watts <= _WATTS_HIGH):
                watts = number(watts, 0.0, _WATTS_HIGH)
            if not (type(carbon) is float and 0.0 < carbon <= _CARBON_HIGH):
                carbon = number(carbon, 0.0, _CARBON_HIGH)
            whole = whole and not ((joules is None and "energy_joules" in energy)
                                   or (watts is None and "avg_power_watts" in energy)
                                   or (carbon is None and "carbon_g_co2eq" in energy))

    if cost is not None:
        cost_usd = cost.get("request_cost_usd")
        if not (type(cost_usd) is float and 0.0 < cost_usd <= _COST_HIGH):
            cost_usd = number(cost_usd, 0.0, _COST_HIGH)
        whole = whole and (cost_usd is not None or "request_cost_usd" not in cost)
    if whole and (joules is not None or cost_usd is not None):
        return Measurement(joules, watts, carbon, cost_usd, measured, energy, cost)
    # Nothing for the metrics, or a metric field that is invalid: whether anything valid is left
    # decides, and what was dropped is logged now.
    attributes = _attributes(energy, cost)
    if not attributes:
        return None
    return Measurement(joules, watts, carbon, cost_usd, measured, energy, cost, MappingProxyType(attributes))


def _attributes(energy: dict | None, cost: dict | None) -> dict[str, AttributeValue]:
    """Every valid field of decoded payloads as a span attribute; what is dropped is logged."""
    out = _Builder()
    attributes = out.attributes
    measured = None

    if energy is not None:
        measured_value = energy.get(_MEASURED)
        if isinstance(measured_value, bool):
            measured = measured_value
            attributes[_MEASURED_ATTRIBUTE] = measured_value
        elif _MEASURED in energy:
            out.drop(_MEASURED)
        # An unmeasured request may still carry placeholder zeros: they are not data.
        numbers_count = measured is not False
        for name, value in energy.items():
            if type(value) is float and numbers_count:  # the usual field: a known number, in bounds
                number_field = _ENERGY_NUMBERS.get(name)
                if number_field is not None and 0.0 < value <= number_field[1]:
                    attributes[number_field[0]] = value
                    continue
            known = _ENERGY_FIELDS.get(name)  # one look per field: this runs for every request
            if known is None:
                if name != _MEASURED:
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
            bounds = _COST_NUMBERS.get(name)
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


_KNOWN = (set(_ENERGY_NUMBERS) | set(_ENERGY_BOOLEANS) | set(_ENERGY_STRINGS) | set(_COST_NUMBERS)
          | {_MEASURED})


def _load(raw: Any) -> dict | None:
    """A payload as a dict: text over the bound is reduced to what a measurement uses (`compact`)."""
    if type(raw) is str and len(raw) > MAX_PAYLOAD_CHARS:
        return compact(raw)
    return load_payload(raw)


def compact(text: str) -> dict | None:
    """A payload too large to keep as text: parsed once, reduced to what a measurement can use
    (every known field, `mcr`, and the first unknown ones up to their bounds), so that what is
    kept stays small whatever the server sent; a member nested too deep does not take the others
    with it."""
    value = parse_json(text)
    if isinstance(value, str):  # JSON text as a JSON string (see `load_payload`)
        value = parse_json(value)
    if not isinstance(value, dict):
        logger.debug("neuralwatt: dropped a %d-character payload that is not a JSON object", len(text))
        return None
    kept, extras = {}, 0
    for name, field in value.items():
        if name in _KNOWN:
            kept[name] = _small(field)
        elif isinstance(field, dict):
            kept[name] = {inner: _small(v) for inner, v in list(field.items())[:MAX_MCR_FIELDS]}
        elif extras < MAX_EXTRA_FIELDS:
            kept[name], extras = _small(field), extras + 1
    return kept


def _small(value: Any) -> Any:
    """A value as an attribute could use it: strings cut to what an attribute keeps, no containers."""
    if isinstance(value, str):
        return value[:MAX_STRING_CHARS]
    return None if isinstance(value, (dict, list)) else value


def select(energies: list, costs: list):
    """One request's measurement when it reported more than once, and its valid energy reports.

    A stream may carry several `: energy` comments (or a data chunk's `energy` and a comment):
    the last *valid* one is the request's measurement (a malformed later report never replaces a
    valid earlier one), and likewise for cost. Reports are snapshots of the same request, so the
    metric counts the measurement once, never their sum.
    """
    if len(energies) <= 1 and len(costs) <= 1:  # the usual case: validate once
        found = measurement(energies[0] if energies else None, costs[0] if costs else None)
        return found, ([found] if found is not None and energies else [])
    reports, last_energy = [], None
    for payload in energies:
        payload = _load(payload)
        report = measurement(payload) if payload is not None else None
        if report is not None:
            reports.append(report)
            last_energy = payload
    last_cost = next((_load(c) for c in reversed(costs) if measurement(cost=c) is not None), None)
    return measurement(last_energy, last_cost), reports


# What adds up when one call made several measured requests (a middleware's fallback hops).
_ADDITIVE_ENERGY = ("energy_joules", "energy_kwh", "duration_seconds", "uncapped_energy_joules",
                    "uncapped_energy_kwh", "carbon_g_co2eq", "cost_usd")
_ADDITIVE_COST = ("request_cost_usd", "cache_savings_usd")


def total(found: list[Measurement]) -> Measurement | None:
    """One measurement for several requests: amounts summed (a field only when every request
    reported it), the average power over the summed duration, and everything else (ratios,
    methods, balances) as the last request reported it."""
    energies = [m.energy for m in found if m.energy is not None]
    costs = [m.cost for m in found if m.cost is not None]
    energy = _summed(energies, _ADDITIVE_ENERGY) if energies else None
    if energy is not None:
        joules, seconds = energy.get("energy_joules"), energy.get("duration_seconds")
        energy.pop("avg_power_watts", None)
        if isinstance(joules, (int, float)) and isinstance(seconds, (int, float)) and seconds > 0:
            energy["avg_power_watts"] = joules / seconds
    return measurement(energy, _summed(costs, _ADDITIVE_COST) if costs else None)


def _summed(payloads: list[dict], additive: tuple) -> dict:
    out = dict(payloads[-1])
    for name in additive:
        values = [number(p.get(name), 0.0, float("inf")) for p in payloads]
        if all(v is not None for v in values):
            out[name] = sum(v for v in values if v is not None)
        else:
            out.pop(name, None)
    return out
