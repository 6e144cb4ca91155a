"""`llm neuralwatt quota`: the account's balance, subscription energy and key allowance, from
`GET /v1/quota`, in human units; with a clear message for each way it can fail."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import llm

from . import catalog, units

KWH = 3.6e6  # joules


class QuotaUnavailable(Exception):
    """Why the quota could not be read, in words for the user."""


def fetch() -> dict:
    key = llm.get_key(alias="neuralwatt", env=catalog.KEY_ENV)
    if not key:
        raise QuotaUnavailable(f"No Neuralwatt API key: set {catalog.KEY_ENV} or run `llm keys set neuralwatt`.")
    url = f"{catalog.api_base()}/quota"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}", "Accept": "application/json"})
    try:
        try:
            body = _read(request)
        except urllib.error.HTTPError as error:
            # The endpoint answers about once a second and says `Retry-After: 0`: wait a moment, ask once more.
            wait = _seconds(error.headers.get("Retry-After")) or 1.0
            if error.code != 429 or wait > 5:
                raise
            time.sleep(wait)
            body = _read(request)
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise QuotaUnavailable(f"{url} refused the API key (HTTP 401): check `llm keys set neuralwatt` "
                                   f"or {catalog.KEY_ENV}.") from error
        if error.code == 429:
            wait = _seconds(error.headers.get("Retry-After"))
            raise QuotaUnavailable(f"{url} is rate-limited (HTTP 429; it answers about once a second): "
                                   f"try again in {f'{wait:g} s' if wait else 'a few seconds'}.") from error
        raise QuotaUnavailable(f"{url} answered HTTP {error.code}.{catalog.missing_v1(error.code)}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise QuotaUnavailable(f"Could not reach {url} ({reason}). Is {catalog.API_BASE_ENV} right?") from error
    except ValueError as error:
        raise QuotaUnavailable(f"{url} did not answer JSON.") from error
    if not isinstance(body, dict):
        raise QuotaUnavailable(f"{url} did not answer a JSON object.")
    return body


def _read(request: urllib.request.Request) -> Any:
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _seconds(retry_after: str | None) -> float:
    """A Retry-After in seconds, at most an hour (0 when absent, not a number, or a date)."""
    try:
        seconds = float(retry_after or 0)
    except ValueError:
        return 0.0
    return min(seconds, 3600.0) if seconds > 0 else 0.0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _get(body: Any, *path: str) -> Any:
    for name in path:
        body = body.get(name) if isinstance(body, dict) else None
    return body


def render(body: dict) -> str:
    """The quota as lines of text: what is there is shown, what is missing is left out."""
    lines = []
    subscription = body.get("subscription")
    if isinstance(subscription, dict):
        plan, ends = subscription.get("plan"), subscription.get("current_period_end")
        lines.append(f"Plan:         {plan or 'unknown'}" + (f" (period ends {ends})" if ends else ""))
        used, included, left = (_number(subscription.get(k)) for k in ("kwh_used", "kwh_included", "kwh_remaining"))
        if included is not None:
            parts = [f"{units.energy(used * KWH)} used" if used is not None else None,
                     f"of {units.energy(included * KWH)} included",
                     f"{units.energy(left * KWH)} left" if left is not None else None]
            lines.append("Energy:       " + ", ".join(p for p in parts if p))
    elif "subscription" in body:
        lines.append("Plan:         none (pay as you go)")
    remaining, total, spent = (_number(_get(body, "balance", k)) for k in
                               ("credits_remaining_usd", "total_credits_usd", "credits_used_usd"))
    if remaining is not None:
        credit = f"Credits:      {units.dollars(remaining)} left"
        if total is not None:
            credit += f" of {units.dollars(total)}"
        if spent is not None:
            credit += f" ({units.dollars(spent)} used)"
        method = _get(body, "balance", "accounting_method")
        lines.append(credit + (f"; accounting: {method}" if isinstance(method, str) else ""))
    month = _number(_get(body, "usage", "current_month", "cost_usd"))
    if month is not None:
        lines.append(f"This month:   {units.dollars(month)}")
    limit, used_usd = _number(_get(body, "key", "allowance", "limit_usd")), _number(_get(body, "key", "allowance",
                                                                                      "spent_usd"))
    if limit is not None:
        period = _get(body, "key", "allowance", "period")
        spent_text = f"{units.dollars(used_usd)} spent of " if used_usd is not None else ""
        lines.append(f"Key allowance: {spent_text}{units.dollars(limit)}" + (f" ({period})" if isinstance(period, str)
                                                                             else ""))
    return "\n".join(lines) if lines else "The quota answer had none of the fields this command knows."
