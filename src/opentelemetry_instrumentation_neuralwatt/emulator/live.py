"""What the live service sends beside the answer: billing, quota and service-tier headers on
every response, and for MCR models (`*-long`) a Managed Context Runtime session per
conversation (`X-NW-Conversation-ID`), reported in `X-MCR-*` headers, `energy.mcr`, a
`: mcr-session` comment and a top-level `mcr` object. Flex models (`*-flex`) stream heartbeat
chunks before the first token."""

from __future__ import annotations

import hashlib
import threading

PLAN = "pro"
ENERGY_INCLUDED_KWH = 5.0
# The account `GET /v1/quota` describes: credits bought, and spent before the emulator started.
TOTAL_CREDITS_USD = 100.0
CREDITS_USED_BEFORE_USD = 25.4
KEY_ALLOWANCE_USD = 50.0
PERIOD_END = "2026-12-31T23:59:59Z"
FLEX_HEARTBEATS = 3  # the live service sends one about every 10 s; the emulator sends them at once


def is_mcr(model: str) -> bool:
    return model.endswith("-long")


def service_tier(model: str) -> str:
    return "flex" if model.endswith("-flex") else "default"


class Sessions:
    """MCR sessions by conversation id: stored-through and safe-drop-before only grow."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: dict = {}
        self._energy_used_kwh = 0.0
        self._spent_usd = 0.0

    def turn(self, conversation: str, tokens: int) -> dict:
        with self._lock:
            session = self._sessions.get(conversation)
            if session is None:
                fp = hashlib.sha256(conversation.encode()).hexdigest()[:24]
                session = self._sessions[conversation] = {"session_fp": fp, "stored_through": 0,
                                                          "safe_drop_before": 0, "turns": 0}
            session["turns"] += 1
            session["safe_drop_before"] = session["stored_through"]
            session["stored_through"] += tokens
            return dict(session)

    def use_energy(self, kwh: float, usd: float = 0.0) -> float:
        """Count a request's energy (and its cost) against the subscription; the kWh used so far."""
        with self._lock:
            self._energy_used_kwh += kwh
            self._spent_usd += usd
            return self._energy_used_kwh

    def quota(self, subscription: bool = True) -> dict:
        """`GET /v1/quota`, in the live service's shape."""
        with self._lock:
            used_kwh, spent = self._energy_used_kwh, self._spent_usd
        used = CREDITS_USED_BEFORE_USD + spent
        return {
            "balance": {"credits_remaining_usd": round(TOTAL_CREDITS_USD - used, 10),
                        "total_credits_usd": TOTAL_CREDITS_USD, "credits_used_usd": round(used, 10),
                        "accounting_method": "energy"},
            "usage": {"current_month": {"cost_usd": round(spent, 10)}},
            "subscription": {"plan": PLAN, "current_period_end": PERIOD_END, "kwh_included": ENERGY_INCLUDED_KWH,
                             "kwh_used": used_kwh, "kwh_remaining": ENERGY_INCLUDED_KWH - used_kwh}
            if subscription else None,
            "key": {"allowance": {"limit_usd": KEY_ALLOWANCE_USD, "spent_usd": round(spent, 10), "period": "monthly"}},
        }


def mcr_metrics(session: dict, prompt_tokens: int) -> dict:
    """`energy.mcr`: about twenty Managed Context Runtime fields (the set may evolve)."""
    turns = session["turns"]
    return {
        "session_turns": turns, "cache_hit": turns > 1, "compaction_triggered": False,
        "compaction_skipped": True, "context_tokens": session["stored_through"],
        "context_tokens_before": session["safe_drop_before"], "prompt_tokens_forwarded": prompt_tokens,
        "stored_through": session["stored_through"], "safe_drop_before": session["safe_drop_before"],
        "refs_recovered": 0, "refs_skipped_budget": 0, "refs_skipped_missing": 0, "recovery_tokens_added": 0,
        "refs_in_forward": 0, "manifest_entries": turns, "summary_tokens": 0, "budget_tokens": 131072,
        "budget_utilization": round(session["stored_through"] / 131072, 6), "store_latency_ms": 1.5,
        "mode": "auto",
    }


def headers(model: str, cost: dict | None, energy_used_kwh: float, session: dict | None) -> dict:
    """The response headers of one answer."""
    sent = {"x-subscription-plan": PLAN, "x-energy-included": repr(ENERGY_INCLUDED_KWH),
            "x-energy-used": repr(energy_used_kwh), "x-energy-remaining": repr(ENERGY_INCLUDED_KWH - energy_used_kwh),
            "x-nw-service-tier": service_tier(model)}
    for field, name in (("request_cost_usd", "x-request-cost-usd"), ("cache_savings_usd", "x-cache-savings-usd"),
                        ("allowance_remaining_usd", "x-allowance-remaining-usd"),
                        ("budget_remaining_usd", "x-budget-remaining-usd")):
        if isinstance(cost, dict) and isinstance(cost.get(field), (int, float)):
            sent[name] = repr(cost[field])
    if session is not None:
        sent.update({"X-MCR-Session-FP": session["session_fp"], "X-MCR-Stored-Through": str(session["stored_through"]),
                     "X-MCR-Safe-Drop-Before": str(session["safe_drop_before"]), "X-MCR-Refs-Recovered": "0",
                     "X-MCR-Refs-Skipped-Budget": "0", "X-MCR-Refs-Skipped-Missing": "0",
                     "X-MCR-Recovery-Tokens-Added": "0", "X-MCR-Refs-In-Forward": "0",
                     "X-MCR-Manifest-Entries": str(session["turns"])})
    return sent


def session_summary(session: dict) -> dict:
    """What `: mcr-session` and the top-level `mcr` object carry."""
    return {key: session[key] for key in ("session_fp", "stored_through", "safe_drop_before")}
