"""The `llm` plugin: Neuralwatt models, their energy in logs.db, and an energy report.

    llm install -e path/to/this/checkout      # or a wheel built from it
    llm keys set neuralwatt
    llm -m neuralwatt/openai/gpt-oss-20b "Hello"
    llm neuralwatt energy
    llm neuralwatt quota

The models (see `catalog.py`, `chat.py`) are llm's own OpenAI chat classes pointed at Neuralwatt, so
tools, schemas, attachments and options work as for any OpenAI-compatible model.

Loading this plugin costs llm's start-up nothing measurable: the instrumentation (and the SDK
modules it patches) is imported and switched on by the first call of one of llm's OpenAI model
classes — ours, or a Neuralwatt endpoint in `extra-openai-models.yaml` — not when llm starts
(`activation.py`; `benchmarks/llm_startup.py` measures it). Each call's energy then lands in its
`response_json` (`capture.py`), and `llm neuralwatt energy` sums it (`report.py`, `units.py`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import llm

from . import activation, catalog, report

logger = logging.getLogger(__name__)


@llm.hookimpl
def register_models(register):
    from .chat import NeuralwattAsyncChat, NeuralwattChat

    activation.wait_for_first_call()
    base = catalog.api_base()
    for model in catalog.available_models():
        options = dict(model_name=model["id"], api_base=base, vision=catalog.has_vision(model),
                       supports_tools=True, supports_schema=True)
        model_id = f"neuralwatt/{model['id']}"
        register(NeuralwattChat(model_id, **options), NeuralwattAsyncChat(model_id, **options))


@llm.hookimpl
def register_commands(cli):
    activation.wait_for_first_call()

    @cli.group(name="neuralwatt")
    def neuralwatt():
        "Neuralwatt models and the energy your prompts used"

    @neuralwatt.command(name="models")
    @click.option("--refresh", is_flag=True, help="Re-read the model list from the API")
    @click.option("--json", "as_json", is_flag=True, help="Output JSON")
    def models_command(refresh, as_json):
        "List the Neuralwatt models this plugin registers"
        try:
            models = catalog.available_models(refresh=refresh)
        except catalog.ModelListUnavailable as error:
            raise click.ClickException(str(error)) from error
        failure = catalog.last_failure()
        if failure:  # say which list this is, rather than pass it off as the API's
            kept = "the list cached before" if catalog.cached_models() else "the built-in list"
            click.echo(f"Could not list models from {catalog.api_base()} ({failure}); showing {kept}. "
                       "`llm neuralwatt models --refresh` tries again.", err=True)
        if as_json:
            click.echo(json.dumps([{"model_id": f"neuralwatt/{m['id']}", **m} for m in models], indent=2))
            return
        for model in models:
            details = [f"context {model['context_length']}"] if model.get("context_length") else []
            if catalog.has_vision(model):
                details.append("vision")
            click.echo(f"neuralwatt/{model['id']}" + (f"  ({', '.join(details)})" if details else ""))

    @neuralwatt.command(name="quota")
    @click.option("--json", "as_json", is_flag=True, help="Output the API's JSON as it came")
    def quota_command(as_json):
        "Your Neuralwatt balance, subscription energy and key allowance (GET /v1/quota)"
        from . import quota

        try:
            body = quota.fetch()
        except quota.QuotaUnavailable as error:
            raise click.ClickException(str(error)) from error
        click.echo(json.dumps(body, indent=2) if as_json else quota.render(body))

    @neuralwatt.command(name="energy")
    @click.option("--since", help="Only calls since: a date (2026-11-01), a time, or an age (30m, 24h, 7d)")
    @click.option("-m", "--model", "model", help="Only this model (id or alias)")
    @click.option("--json", "as_json", is_flag=True, help="Output JSON")
    @click.option("--database", "-d", type=click.Path(dir_okay=False), help="logs.db to read (default: llm's)")
    def energy_command(since, model, as_json, database):
        "Energy, carbon and cost of the calls in llm's logs, per model and in total"
        from llm.cli import logs_db_path

        path = Path(database) if database else logs_db_path()
        try:
            since_utc = report.parse_since(since) if since else None
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--since") from error
        try:
            found = report.energy_report(path, since=since_utc, model=_resolve_model(model))
        except report.NoLogs as error:
            raise click.ClickException(str(error)) from error
        click.echo(report.render_json(found) if as_json else report.render_table(found))


def _resolve_model(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return llm.get_model(name).model_id
    except llm.UnknownModelError:
        return name
