"""The Neuralwatt models the `llm` plugin registers: `GET {api_base}/models`, cached in llm's user
directory, with a built-in list when the API cannot be reached.

Every `llm` command that resolves a model asks for this list, so it must be cheap: a good answer
is kept for a day, and a failed fetch is remembered for a quarter of an hour, so that a machine
offline (or a wrong NEURALWATT_API_BASE) does not pay a network timeout on every command.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from pathlib import Path

import llm

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.neuralwatt.com/v1"
API_BASE_ENV = "NEURALWATT_API_BASE"
KEY_ENV = "NEURALWATT_API_KEY"
CACHE_FILE = "neuralwatt-models.json"
CACHE_SECONDS = 24 * 3600
RETRY_AFTER_FAILURE_SECONDS = 15 * 60

# Served by Neuralwatt as of 2026-11; used when /models cannot be reached and nothing is cached.
FALLBACK_MODELS: list[dict] = [
    {"id": "openai/gpt-oss-20b"},
    {"id": "moonshotai/Kimi-K2.6", "vision": True},
    {"id": "moonshotai/Kimi-K2.5", "vision": True},
    {"id": "Qwen/Qwen3.6-35B-A3B", "vision": True},
    {"id": "Qwen/Qwen3.5-397B-A17B-FP8"},
    {"id": "zai-org/GLM-5.1-FP8"},
    {"id": "MiniMaxAI/MiniMax-M2.5"},
    {"id": "mistralai/Devstral-Small-2-24B-Instruct-2512", "vision": True},
]
# Ids that are embedding models, not chat models.
_EMBEDDING_HINTS = ("embed", "bge-", "e5-")


class ModelListUnavailable(Exception):
    """`/models` could not be read; the message says from where and why."""


def api_base() -> str:
    return os.environ.get(API_BASE_ENV, DEFAULT_API_BASE).rstrip("/")


def missing_v1(status: object, base: str | None = None) -> str:
    """For an HTTP 404 from an API base without the `/v1` every Neuralwatt path starts with: the
    setting that was probably meant (else nothing)."""
    base = (base or api_base()).rstrip("/")
    if status != 404 or base.endswith("/v1"):
        return ""
    return f" Did you mean {API_BASE_ENV}={base}/v1?"


def cache_path() -> Path:
    return llm.user_dir() / CACHE_FILE


def fetch_models() -> list[dict]:
    """The chat models Neuralwatt lists now (raises on any network or format problem)."""
    request = urllib.request.Request(f"{api_base()}/models", headers={"Accept": "application/json"})
    key = llm.get_key(alias="neuralwatt", env=KEY_ENV)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=5) as answer:
        listed = json.load(answer)["data"]
    models = []
    for entry in listed:
        model_id = entry["id"]
        if entry.get("type") == "embeddings" or any(h in model_id.lower() for h in _EMBEDDING_HINTS):
            continue
        models.append({"id": model_id, "context_length": entry.get("max_model_len")})
    return models


def _read_cache() -> dict:
    """What is cached for the current API base: {"models", "fetched"} and/or {"failed", "error"}."""
    try:
        cached = json.loads(cache_path().read_text())
        return cached if isinstance(cached, dict) and cached.get("api_base") == api_base() else {}
    except (OSError, ValueError):
        return {}


def _write_cache(cached: dict) -> None:
    try:
        path = cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**cached, "api_base": api_base()}, indent=2))
    except OSError:
        logger.debug("neuralwatt: could not write the model cache", exc_info=True)


def cached_models() -> list[dict] | None:
    """The list the last good fetch returned, if any is cached for this API base."""
    models = _read_cache().get("models")
    return models if isinstance(models, list) else None


def available_models(refresh: bool = False) -> list[dict]:
    """The fresh cached list; else fetched and cached; else the stale cache; else the built-in list.

    With `refresh`, always fetches, and raises `ModelListUnavailable` when that fails."""
    cached = _read_cache()
    models = cached_models()
    now = time.time()
    if not refresh:
        if models is not None and now - _number(cached.get("fetched")) < CACHE_SECONDS:
            return models
        if now - _number(cached.get("failed")) < RETRY_AFTER_FAILURE_SECONDS:
            return models or FALLBACK_MODELS
    try:
        fetched = fetch_models()
    except Exception as error:
        hint = missing_v1(getattr(error, "code", None))  # an HTTPError's status
        reason = f"{error}.{hint}" if hint else str(error)
        _write_cache({**cached, "failed": now, "error": f"{type(error).__name__}: {reason}"})
        if refresh:
            raise ModelListUnavailable(f"could not list Neuralwatt models from {api_base()}: {reason}") from error
        logger.debug("neuralwatt: model list unavailable (%s); using %s", error, "cache" if models else "built-in list")
        return models or FALLBACK_MODELS
    _write_cache({"fetched": now, "models": fetched})
    return fetched


def last_failure() -> str | None:
    """Why the last fetch failed, when it failed after the last good one (else None)."""
    cached = _read_cache()
    if _number(cached.get("failed")) > _number(cached.get("fetched")):
        return str(cached.get("error") or "unknown error")
    return None


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("-inf")


def has_vision(model: dict) -> bool:
    known = {m["id"]: m.get("vision", False) for m in FALLBACK_MODELS}
    return bool(model.get("vision", known.get(model["id"], False)))
