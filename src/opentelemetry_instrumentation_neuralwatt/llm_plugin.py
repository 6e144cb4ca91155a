"""The `llm` plugin: Neuralwatt models, their energy in logs.db, and an energy report.

    llm install opentelemetry-instrumentation-neuralwatt
    llm keys set neuralwatt
    llm -m neuralwatt/openai/gpt-oss-20b "Hello"
    llm neuralwatt energy

Models come from `GET {api_base}/models`, cached for a day in llm's user directory
(`llm neuralwatt models --refresh` re-reads them), with a built-in list when offline. They are
llm's own OpenAI chat classes pointed at Neuralwatt, so tools, schemas, attachments and options
work as for any OpenAI-compatible model.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from pathlib import Path

import click
import llm
from llm.default_plugins.openai_models import AsyncChat, Chat

from . import NeuralwattInstrumentor, llm_energy, report

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.neuralwatt.com/v1"
API_BASE_ENV = "NEURALWATT_API_BASE"
KEY_ENV = "NEURALWATT_API_KEY"
CACHE_FILE = "neuralwatt-models.json"
CACHE_SECONDS = 24 * 3600

# Served by Neuralwatt as of 2026-11; used when /models cannot be reached and nothing is cached.
FALLBACK_MODELS = [
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


class NeuralwattChat(Chat):
    needs_key = "neuralwatt"
    key_env_var = KEY_ENV

    def __str__(self):
        return f"Neuralwatt: {self.model_id}"


class NeuralwattAsyncChat(AsyncChat):
    needs_key = "neuralwatt"
    key_env_var = KEY_ENV

    def __str__(self):
        return f"Neuralwatt (async): {self.model_id}"


def api_base() -> str:
    return os.environ.get(API_BASE_ENV, DEFAULT_API_BASE).rstrip("/")


def _cache_path() -> Path:
    return llm.user_dir() / CACHE_FILE


def fetch_models() -> list:
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


def available_models(refresh: bool = False) -> list:
    """Cached list if fresh; else fetched and cached; else the stale cache; else the built-in list."""
    path = _cache_path()
    cached = None
    try:
        cached = json.loads(path.read_text())
        if not refresh and cached.get("api_base") == api_base() and time.time() - cached["fetched"] < CACHE_SECONDS:
            return cached["models"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        cached = None
    try:
        models = fetch_models()
    except Exception as error:
        if refresh:
            raise click.ClickException(f"could not list Neuralwatt models from {api_base()}: {error}") from error
        logger.debug("neuralwatt: model list unavailable (%s); using %s", error, "cache" if cached else "built-in list")
        if cached and cached.get("api_base") == api_base():
            return cached["models"]
        return FALLBACK_MODELS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api_base": api_base(), "fetched": time.time(), "models": models}, indent=2))
    return models


def _vision(model: dict) -> bool:
    known = {m["id"]: m.get("vision", False) for m in FALLBACK_MODELS}
    return model.get("vision", known.get(model["id"], False))


@llm.hookimpl
def register_models(register):
    base = api_base()
    for model in available_models():
        options = dict(model_name=model["id"], api_base=base, vision=_vision(model),
                      supports_tools=True, supports_schema=True)
        model_id = f"neuralwatt/{model['id']}"
        register(NeuralwattChat(model_id, **options), NeuralwattAsyncChat(model_id, **options))


@llm.hookimpl
def register_commands(cli):
    @cli.group(name="neuralwatt")
    def neuralwatt():
        "Neuralwatt models and the energy your prompts used"

    @neuralwatt.command(name="models")
    @click.option("--refresh", is_flag=True, help="Re-read the model list from the API")
    @click.option("--json", "as_json", is_flag=True, help="Output JSON")
    def models_command(refresh, as_json):
        "List the Neuralwatt models this plugin registers"
        models = available_models(refresh=refresh)
        if as_json:
            click.echo(json.dumps([{"model_id": f"neuralwatt/{m['id']}", **m} for m in models], indent=2))
            return
        for model in models:
            details = [f"context {model['context_length']}"] if model.get("context_length") else []
            if _vision(model):
                details.append("vision")
            click.echo(f"neuralwatt/{model['id']}" + (f"  ({', '.join(details)})" if details else ""))

    @neuralwatt.command(name="energy")
    @click.option("--since", help="Only calls since: a date (2026-11-01), a time, or an age (30m, 24h, 7d)")
    @click.option("-m", "--model", "model", help="Only this model (id or alias)")
    @click.option("--json", "as_json", is_flag=True, help="Output JSON")
    @click.option("--database", "-d", type=click.Path(dir_okay=False), help="logs.db to read (default: llm's)")
    def energy_command(since, model, as_json, database):
        "Energy, carbon and cost of the calls in llm's logs, per model"
        from llm.cli import logs_db_path

        path = Path(database) if database else logs_db_path()
        try:
            since_utc = report.parse_since(since) if since else None
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--since") from error
        rows = report.energy_by_model(path, since=since_utc, model=_resolve_model(model))
        click.echo(report.render_json(rows) if as_json else report.render_table(rows))


def _resolve_model(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return llm.get_model(name).model_id
    except llm.UnknownModelError:
        return name


def activate() -> None:
    """Capture energy for llm: instrument the openai SDK (unless already done, for example by
    `opentelemetry-instrument`, whose providers then receive the spans) and wrap llm's models."""
    try:
        instrumentor = NeuralwattInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(_implicit=True)  # an application's own instrument() replaces it
        llm_energy.wrap_llm_models()
    except Exception:
        logger.debug("neuralwatt: could not activate energy capture for llm", exc_info=True)


activate()
