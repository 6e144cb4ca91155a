"""What the emulator reports for a request: plausible energy and cost, and the faults that
corrupt them. Joules grow with tokens; power and attribution vary per request."""

from __future__ import annotations

import random
import threading
from typing import Any

FAULTS = {
    "malformed-energy": "the energy payload is not valid JSON",
    "nan-energy": "energy numbers are NaN / Infinity",
    "wrong-types": "strings, lists and objects where numbers belong",
    "absurd-energy": "negative and physically absurd numbers",
    "huge-energy": "a 1 MB energy payload",
    "negative-zero": "energy_joules and avg_power_watts are -0.0",
    "string-energy": "the energy object sent as a JSON string of its text (a body's field, a stream's comment)",
    "non-utf8": "invalid UTF-8 bytes in the energy comment (the SDK itself fails)",
    "no-measurement": 'energy is {"measurement_available": false}',
    "no-energy": "no energy and no cost at all",
    "no-cost": "energy but no cost",
    "energy-in-data": "energy and cost inside the last data chunk instead of comments",
    "crlf": "CRLF line endings",
    "split-comment": "the energy comment is written in small pieces across network reads",
    "keepalive": "`: ping` keep-alive comments between chunks and `: mcr-session` before energy",
    "disconnect": "the connection drops half-way through the stream",
    "stream-error": 'a `data: {"error": ...}` event half-way through the stream',
    "slow": "50 ms between stream chunks",
    "http-429": "HTTP 429 on every attempt (Retry-After 0)",
    "http-500": "HTTP 500 on every attempt",
    "http-500-once": "HTTP 500 the first time a request body arrives, a normal answer to its retry",
    "http-401": "HTTP 401",
    "mcr-status": "`event: mcr-status` JSON frames (compaction heartbeats) before the first token",
    "mcr-status-text": "an `event: mcr-status` frame whose data is plain text, not JSON",
    "repeated-energy": "two `: energy` comments: a valid one, then a second valid one",
    "malformed-second-energy": "a valid `: energy` comment followed by a malformed one",
    "length": 'the answer stops for length: finish_reason "length"',
    "null-choices": '`"choices": null` beside a valid energy object (non-streaming)',
    "many-choices": "5,000 choices in one answer (non-streaming)",
    "hostile-fields": "usage beyond int64, a model name and id with a lone surrogate (non-streaming)",
    "deep-energy": "an energy comment with a member nested 3,000 deep beside valid fields",
    "http-400-echo": "HTTP 400 whose error message echoes the request (the prompt)",
    "disconnect-after-energy": "the connection drops right after the energy and cost comments, before the stream ends",
    "stall-after-energy": "the server stalls 2 s after the energy and cost comments, then drops the connection",
    "refusal": "/v1/messages: the model refuses (stop_reason \"refusal\", a fallback credit token) unless "
               "the request redeems one (what anthropic's refusal fallback middleware sends next)",
    "no-subscription": "GET /v1/quota answers `subscription: null` (an account without a plan)",
    "invented-model": "the response names a model never named before (a new one per response)",
    "endless-line": "a stream ends with one 200 MB line that has no line end",
}


def tokens(value: Any) -> int:
    """A rough token count (words) of a prompt, message list or input list."""
    if isinstance(value, str):
        return max(1, len(value.split()))
    if isinstance(value, dict):
        return tokens(value.get("content", value.get("text", ""))) + 3
    if isinstance(value, list):
        return sum(tokens(v) for v in value) or 1
    return 1


def cost(prompt_tokens: int, completion_tokens: int) -> dict:
    """What a request is billed (the `cost` object, and the cost headers sent even without it)."""
    return {"request_cost_usd": round(1e-7 * prompt_tokens + 4e-7 * completion_tokens, 10),
            "cache_savings_usd": 0.0, "allowance_remaining_usd": 74.6, "budget_remaining_usd": 74.6}


class Meter:
    """Per-request numbers from one seeded random source (the same seed, the same answers)."""

    def __init__(self, seed: int | None):
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def measure(self, prompt_tokens: int, completion_tokens: int, faults: frozenset, mcr: dict | None = None):
        """The energy and cost objects of one request, shaped as the live service sends them: a
        capped multi-GPU attribution (with the uncapped share), and `mcr` for MCR models."""
        with self._lock:
            power = round(self._random.uniform(250.0, 900.0), 2)
            per_token = self._random.uniform(0.15, 0.35)
            uncapped = round(self._random.uniform(0.02, 0.3), 4)
        ratio = min(uncapped, 0.25)
        joules = round(0.02 * prompt_tokens + per_token * completion_tokens + 0.5, 4)
        kwh = joules / 3.6e6
        intensity = 42.0
        billed = cost(prompt_tokens, completion_tokens)
        request_cost = billed["request_cost_usd"]
        energy = {
            "energy_joules": joules,
            "cost_usd": request_cost,
            "energy_kwh": kwh,
            "avg_power_watts": power,
            "duration_seconds": round(joules / power, 6),
            "attribution_method": "counter_prorated_token_pool_weighted_multi_gpu_8",
            "attribution_ratio": ratio,
            "ratio_was_capped": uncapped > ratio,
            "uncapped_attribution_ratio": uncapped,
            "uncapped_energy_joules": round(joules * uncapped / ratio, 4),
            "uncapped_energy_kwh": joules * uncapped / ratio / 3.6e6,
            "carbon_g_co2eq": kwh * intensity,
            "grid_carbon_intensity_gco2perkwhr": intensity,
            "grid_id": "FI",
            "carbon_source": "agent_cache",
            "mcr": mcr if mcr is not None else {"session_turns": 1, "cache_hit": False},
        }
        return _apply_energy_faults(energy, billed, faults)


def _apply_energy_faults(energy: dict, cost: dict | None, faults: frozenset):
    if "no-energy" in faults:
        return None, None
    if "no-cost" in faults:
        cost = None
    if "no-measurement" in faults:
        energy = {"measurement_available": False}
    if "nan-energy" in faults:
        energy = {**energy, "energy_joules": float("nan"), "avg_power_watts": float("inf"),
                  "carbon_g_co2eq": float("-inf")}
    if "wrong-types" in faults:
        energy = {**energy, "energy_joules": str(energy.get("energy_joules")), "avg_power_watts": [1, 2],
                  "duration_seconds": {"s": 1}, "attribution_method": 7, "measurement_available": "yes",
                  "energy_kwh": True}
        cost = {"request_cost_usd": "0.01"}
    if "absurd-energy" in faults:
        energy = {**energy, "energy_joules": -5.0, "avg_power_watts": 1e15, "attribution_ratio": 3.5,
                  "duration_seconds": 1e12}
    if "negative-zero" in faults:
        energy = {**energy, "energy_joules": -0.0, "avg_power_watts": -0.0}
    if "huge-energy" in faults:
        energy = {**energy, "padding": "x" * (1 << 20)}
    return energy, cost
