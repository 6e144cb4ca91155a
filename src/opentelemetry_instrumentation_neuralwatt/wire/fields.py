"""The fields of Neuralwatt's `energy` and `cost` payloads: their attribute names and the bounds
that tell a value from garbage; and a payload too large to keep as text, reduced to those fields."""

from __future__ import annotations

import logging
import re
from typing import Any

from .payload import MAX_STRING_CHARS, parse_json

logger = logging.getLogger(__name__)

# Unknown fields become attributes too, but only so many, with short names and values. Known
# fields never count against this bound, whatever their order on the wire; `energy.mcr` (Managed
# Context Runtime metrics, ~20 keys, "field set may evolve") has a bound of its own.
MAX_EXTRA_FIELDS = 64
MAX_MCR_FIELDS = 64
# Attribute names made from wire names: lower-case, digits and underscores, nothing else (\Z,
# not $, which would let a trailing newline through).
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")

ENERGY_PREFIX = "neuralwatt.energy."
COST_PREFIX = "neuralwatt.cost."

# Known numeric energy fields: wire name -> (attribute name, largest plausible value).
# The bounds reject garbage, not big jobs: 1e9 J is ~278 kWh for a single request.
ENERGY_NUMBERS = {
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
ENERGY_BOOLEANS = {"ratio_was_capped": "neuralwatt.energy.ratio_was_capped"}
ENERGY_STRINGS = {
    "attribution_method": "neuralwatt.energy.attribution_method",
    "grid_id": "neuralwatt.energy.grid_id",
    "carbon_source": "neuralwatt.energy.carbon_source",
}
# Every known energy field: wire name -> (kind, attribute name, largest plausible value).
ENERGY_FIELDS: dict[str, tuple[type, str, float]] = {
    **{name: (float, attribute, high) for name, (attribute, high) in ENERGY_NUMBERS.items()},
    **{name: (bool, attribute, 0.0) for name, attribute in ENERGY_BOOLEANS.items()},
    **{name: (str, attribute, 0.0) for name, attribute in ENERGY_STRINGS.items()},
}
# Attribute names an unknown wire field must not take: "joules" would overwrite energy_joules' value.
KNOWN_ATTRIBUTES = frozenset(attribute for _, attribute, _ in ENERGY_FIELDS.values())
# The bounds of the fields that feed metrics.
JOULES_HIGH, WATTS_HIGH, CARBON_HIGH = (ENERGY_NUMBERS[name][1]
                                           for name in ("energy_joules", "avg_power_watts", "carbon_g_co2eq"))
MEASURED = "measurement_available"
MEASURED_ATTRIBUTE = "neuralwatt.energy.measurement_available"

# Cost fields: a request cost is never negative; balances may be.
COST_NUMBERS = {
    "request_cost_usd": (0.0, 1e6),
    "cache_savings_usd": (0.0, 1e6),
    "allowance_remaining_usd": (-1e12, 1e12),
    "budget_remaining_usd": (-1e12, 1e12),
}
COST_HIGH = COST_NUMBERS["request_cost_usd"][1]
ALLOWANCE_BOUNDS = COST_NUMBERS["allowance_remaining_usd"]

KNOWN = (set(ENERGY_NUMBERS) | set(ENERGY_BOOLEANS) | set(ENERGY_STRINGS) | set(COST_NUMBERS)
          | {MEASURED})


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
        if name in KNOWN:
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

