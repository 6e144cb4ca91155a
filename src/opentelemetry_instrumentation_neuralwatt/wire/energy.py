"""Turn a Neuralwatt `energy` / `cost` payload into a validated, immutable measurement.

Everything the server sends is untrusted: a field that is missing, of the wrong type,
not finite, negative or beyond physical sense is dropped (and named in a debug log);
what is left becomes span attributes and metric values that are always valid. Several reports of
one request, or of the requests of one call, become one measurement here too (`select`, `total`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .energy_attributes import attributes as _attributes
from .fields import ALLOWANCE_BOUNDS, CARBON_HIGH, COST_HIGH, JOULES_HIGH, MEASURED, WATTS_HIGH, compact
from .payload import MAX_PAYLOAD_CHARS, AttributeValue, load_payload, number

__all__ = ["Measurement", "measurement", "select", "total"]


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
        return None if self.cost is None else number(self.cost.get("allowance_remaining_usd"), *ALLOWANCE_BOUNDS)

    def __repr__(self) -> str:
        return f"Measurement(joules={self.joules!r}, watts={self.watts!r}, cost_usd={self.cost_usd!r})"


def measurement(energy: Any = None, cost: Any = None) -> Measurement | None:
    """Validate an energy and/or cost payload (dicts or raw JSON text); None if nothing valid."""
    if energy is not None and type(energy) is not dict:  # a body's objects are dicts already
        energy = _load(energy)
    if cost is not None and type(cost) is not dict:
        cost = _load(cost)
    if energy is None and cost is None:
        return None
    joules = watts = carbon = cost_usd = measured = None
    whole = True  # every metric field the payload has is valid: the attributes can wait
    if energy is not None:
        measured = energy.get(MEASURED)
        if type(measured) is not bool:
            measured = None
            whole = MEASURED not in energy  # there, but neither true nor false
        if measured is not False:  # an unmeasured request's placeholder zeros are not data
            # A plain float in bounds, the usual value, is taken as it is; anything else is checked.
            get = energy.get
            joules, watts, carbon = get("energy_joules"), get("avg_power_watts"), get("carbon_g_co2eq")
            # (Strictly positive: a zero, and -0.0 above all, goes through `number`.)
            if not (type(joules) is float and 0.0 < joules <= JOULES_HIGH):
                joules = number(joules, 0.0, JOULES_HIGH)
            if not (type(watts) is float and 0.0 < watts <= WATTS_HIGH):
                watts = number(watts, 0.0, WATTS_HIGH)
            if not (type(carbon) is float and 0.0 < carbon <= CARBON_HIGH):
                carbon = number(carbon, 0.0, CARBON_HIGH)
            whole = whole and not ((joules is None and "energy_joules" in energy)
                                   or (watts is None and "avg_power_watts" in energy)
                                   or (carbon is None and "carbon_g_co2eq" in energy))

    if cost is not None:
        cost_usd = cost.get("request_cost_usd")
        if not (type(cost_usd) is float and 0.0 < cost_usd <= COST_HIGH):
            cost_usd = number(cost_usd, 0.0, COST_HIGH)
        whole = whole and (cost_usd is not None or "request_cost_usd" not in cost)
    if whole and (joules is not None or cost_usd is not None):
        return Measurement(joules, watts, carbon, cost_usd, measured, energy, cost)
    # Nothing for the metrics, or a metric field that is invalid: whether anything valid is left
    # decides, and what was dropped is logged now.
    attributes = _attributes(energy, cost)
    if not attributes:
        return None
    return Measurement(joules, watts, carbon, cost_usd, measured, energy, cost, MappingProxyType(attributes))


def _load(raw: Any) -> dict | None:
    """A payload as a dict: text over the bound is reduced to what a measurement uses (`compact`)."""
    if type(raw) is str and len(raw) > MAX_PAYLOAD_CHARS:
        return compact(raw)
    return load_payload(raw)


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

