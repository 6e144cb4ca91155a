"""The live service's response headers: a request's cost (used when the body states none), the
subscription quota (span attributes, and the values the quota gauges report), the plan, the
service tier, and MCR session headers. Untrusted: a value of the wrong shape is dropped."""

from __future__ import annotations

import re
from typing import Any

from .livewire import MAX_HEADERS, MAX_TEXT, MCR_PREFIX, SERVICE_TIER, SNAKE

# Response headers (lower case) that carry the request's cost: the `cost` object's fields.
COST_HEADERS = {
    "x-request-cost-usd": "request_cost_usd",
    "x-cache-savings-usd": "cache_savings_usd",
    "x-allowance-remaining-usd": "allowance_remaining_usd",
    "x-budget-remaining-usd": "budget_remaining_usd",
}
# Subscription quota headers (energy in kWh).
QUOTA_HEADERS = {
    "x-energy-included": "neuralwatt.quota.energy_included_kwh",
    "x-energy-remaining": "neuralwatt.quota.energy_remaining_kwh",
    "x-energy-used": "neuralwatt.quota.energy_used_kwh",
}
PLAN_HEADER, PLAN_ATTRIBUTE = "x-subscription-plan", "neuralwatt.quota.subscription_plan"
TIER_HEADER = "x-nw-service-tier"
_INTEGER = re.compile(r"-?[0-9]{1,18}\Z")


# Lower-case header name (bytes, as the HTTP library keeps it) -> (kind, name it maps to).
_WANTED = {name.encode(): ("cost", field) for name, field in COST_HEADERS.items()}
_WANTED.update({name.encode(): ("quota", attribute) for name, attribute in QUOTA_HEADERS.items()})
_WANTED[PLAN_HEADER.encode()] = ("text", PLAN_ATTRIBUTE)
_WANTED[TIER_HEADER.encode()] = ("text", SERVICE_TIER)


def _lowered(headers: Any):
    """(raw name, lower-case name, value) byte triples: httpx keeps them so already (`_list`)."""
    kept = getattr(headers, "_list", None)
    if kept is not None:
        return kept
    return [(b"", name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


_ENERGY_REMAINING = QUOTA_HEADERS["x-energy-remaining"]
_REMAINING, _ALLOWANCE = b"x-energy-remaining", b"x-allowance-remaining-usd"
_QUOTA_NAMES = frozenset((_REMAINING, _ALLOWANCE))


def _number(value: bytes) -> float | None:
    try:  # float() reads ASCII bytes, surrounding spaces included
        number = float(value)
    except ValueError:
        return None
    return number if -1e12 < number < 1e12 else None  # also false for NaN


class ResponseHeaders:
    """The Neuralwatt headers of one response: span attributes, the cost they state (used when
    the body has none), and the quota values the gauges report. Read when first asked for: a
    call whose span does not record and whose body states its cost only needs the two quota
    values, and those are looked up alone."""

    __slots__ = ("_lowered", "_attributes", "_cost", "_energy_remaining_kwh", "_allowance_remaining_usd")

    def __init__(self, headers: Any):
        self._lowered = _lowered(headers)
        self._attributes: dict | None = None  # None: not read yet (`_read` sets all four at once)
        self._cost: dict | None = None
        self._energy_remaining_kwh: float | None = None
        self._allowance_remaining_usd: float | None = None

    @property
    def attributes(self) -> dict:
        if self._attributes is None:
            self._read()
        return self._attributes  # type: ignore[return-value]

    @property
    def cost(self) -> dict | None:
        if self._attributes is None:
            self._read()
        return self._cost

    def quota(self) -> tuple[float | None, float | None]:
        """(energy remaining in kWh, allowance remaining in USD): what the gauges report, each the
        last valid value, as the whole read keeps it."""
        if self._attributes is not None:
            return self._energy_remaining_kwh, self._allowance_remaining_usd
        remaining = allowance = None
        for _, name, value in reversed(self._lowered):  # from the last: the first valid one is kept
            if name in _QUOTA_NAMES:
                number = _number(value)
                if number is None:
                    continue
                if name == _REMAINING:
                    if remaining is None:
                        remaining = number
                elif allowance is None:
                    allowance = number
                if remaining is not None and allowance is not None:
                    break
        return remaining, allowance

    def _read(self) -> None:
        attributes: dict = {}
        cost: dict | None = None
        energy_remaining = allowance = None
        mcr_kept = 0
        for _, name, value in self._lowered:
            wanted = _WANTED.get(name)
            if wanted is None:
                if name[:6] == b"x-mcr-" and mcr_kept < MAX_HEADERS:
                    mcr_kept += _mcr(attributes, name[6:].decode("latin-1").replace("-", "_"),
                                     value.decode("latin-1").strip())
                continue
            kind, target = wanted
            if kind == "text":
                text = value.decode("latin-1").strip()
                if text:
                    attributes[target] = text[:MAX_TEXT]
                continue
            try:  # `_number`, written out: this runs for each header of each response a kept span records
                number = float(value)
            except ValueError:
                continue
            if not -1e12 < number < 1e12:  # also false for NaN
                continue
            if kind == "cost":
                if cost is None:
                    cost = {}
                cost[target] = number
                if target == "allowance_remaining_usd":
                    allowance = number
            else:
                attributes[target] = number
                if target == _ENERGY_REMAINING:
                    energy_remaining = number
        # All at once, last: a read cut short (an interrupt) leaves the headers unread, not half read.
        self._cost, self._energy_remaining_kwh, self._allowance_remaining_usd = cost, energy_remaining, allowance
        self._attributes = attributes


def _mcr(attributes: dict, name: str, value: str) -> int:
    if not SNAKE.match(name) or not value:
        return 0
    attributes[MCR_PREFIX + name] = int(value) if _INTEGER.match(value) else value[:MAX_TEXT]
    return 1


def looks_like_neuralwatt(headers: Any) -> bool:
    """Whether a response's headers carry Neuralwatt's energy or MCR headers."""
    return any(name[:9] == b"x-energy-" or name[:6] == b"x-mcr-" for _, name, _ in _lowered(headers))
