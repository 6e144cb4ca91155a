"""What the live service sends besides the energy object: billing, quota and MCR response
headers, MCR session data (`: mcr-session` comments, a top-level `mcr` object) and MCR status
frames. Everything is untrusted: a value of the wrong shape is dropped, never raised on.
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
_SNAKE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
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
            number = _number(value)
            if number is None:
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
    if not _SNAKE.match(name) or not value:
        return 0
    attributes[MCR_PREFIX + name] = int(value) if _INTEGER.match(value) else value[:MAX_TEXT]
    return 1


def looks_like_neuralwatt(headers: Any) -> bool:
    """Whether a response's headers carry Neuralwatt's energy or MCR headers."""
    return any(name[:9] == b"x-energy-" or name[:6] == b"x-mcr-" for _, name, _ in _lowered(headers))


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
        if isinstance(key, str) and _SNAKE.match(key) and valid is not None:
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
        if isinstance(key, str) and _SNAKE.match(key) and valid is not None:
            attributes[key] = valid
    return attributes
