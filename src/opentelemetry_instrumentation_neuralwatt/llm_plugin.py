"""The `llm` plugin: Neuralwatt models, their energy in logs.db, and an energy report.

    llm install -e path/to/this/checkout      # or a wheel built from it
    llm keys set neuralwatt
    llm -m neuralwatt/openai/gpt-oss-20b "Hello"
    llm neuralwatt energy

The models (see `llm_models.py`) are llm's own OpenAI chat classes pointed at Neuralwatt, so
tools, schemas, attachments and options work as for any OpenAI-compatible model.

Loading this plugin costs llm's start-up nothing measurable: the instrumentation (and the SDK
modules it patches) is imported and switched on by the first call of one of llm's OpenAI model
classes — ours, or a Neuralwatt endpoint in `extra-openai-models.yaml` — not when llm starts.
`benchmarks/llm_startup.py` measures it.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import click
import llm

from . import llm_models, report

logger = logging.getLogger(__name__)


@llm.hookimpl
def register_models(register):
    from .llm_chat import NeuralwattAsyncChat, NeuralwattChat

    _wait_for_first_call()
    base = llm_models.api_base()
    for model in llm_models.available_models():
        options = dict(model_name=model["id"], api_base=base, vision=llm_models.has_vision(model),
                       supports_tools=True, supports_schema=True)
        model_id = f"neuralwatt/{model['id']}"
        register(NeuralwattChat(model_id, **options), NeuralwattAsyncChat(model_id, **options))


@llm.hookimpl
def register_commands(cli):
    _wait_for_first_call()

    @cli.group(name="neuralwatt")
    def neuralwatt():
        "Neuralwatt models and the energy your prompts used"

    @neuralwatt.command(name="models")
    @click.option("--refresh", is_flag=True, help="Re-read the model list from the API")
    @click.option("--json", "as_json", is_flag=True, help="Output JSON")
    def models_command(refresh, as_json):
        "List the Neuralwatt models this plugin registers"
        try:
            models = llm_models.available_models(refresh=refresh)
        except llm_models.ModelListUnavailable as error:
            raise click.ClickException(str(error)) from error
        failure = llm_models.last_failure()
        if failure:  # say which list this is, rather than pass it off as the API's
            kept = "the list cached before" if llm_models.cached_models() else "the built-in list"
            click.echo(f"Could not list models from {llm_models.api_base()} ({failure}); showing {kept}. "
                       "`llm neuralwatt models --refresh` tries again.", err=True)
        if as_json:
            click.echo(json.dumps([{"model_id": f"neuralwatt/{m['id']}", **m} for m in models], indent=2))
            return
        for model in models:
            details = [f"context {model['context_length']}"] if model.get("context_length") else []
            if llm_models.has_vision(model):
                details.append("vision")
            click.echo(f"neuralwatt/{model['id']}" + (f"  ({', '.join(details)})" if details else ""))

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


# llm's OpenAI-compatible model classes, whose calls may go to Neuralwatt: their own `execute`,
# kept while a stand-in waits for the first call (see `activate`).
_EXECUTE_OWNERS = ("Chat", "AsyncChat", "Completion", "Responses", "AsyncResponses")
_waiting: dict = {}
_switched_on = False
_activating = threading.Lock()


def _wait_for_first_call() -> None:
    """Put the stand-ins in place, once. Called from the hooks, not at import: llm imports its
    OpenAI models after loading plugins, and importing them (with openai) from inside this
    module's import would run all of that one plugin-loading stack deeper, which on CPython 3.11
    costs thousands of frame-stack chunk allocations (measured: +4% on `llm --help`)."""
    with _activating:
        if _waiting or _switched_on:
            return
        from llm.default_plugins import openai_models

        for name in _EXECUTE_OWNERS:
            owner = getattr(openai_models, name, None)  # older llm releases lack some of them
            if isinstance(owner, type) and "execute" in vars(owner):
                _switch_on_at_first_call(owner)


def _switch_on_at_first_call(owner: type) -> None:
    def execute(self, *args, **kwargs):
        activate()  # puts the class's own execute back (wrapped), so this runs once
        return getattr(owner, "execute")(self, *args, **kwargs)  # noqa: B009 (looked up now, not before)

    _waiting[owner] = vars(owner)["execute"]
    execute.__doc__ = _waiting[owner].__doc__
    setattr(owner, "execute", execute)  # noqa: B010 (a method replaced on purpose)


def activate() -> None:
    """Capture energy for llm: instrument the SDKs (unless already done, for example by
    `opentelemetry-instrument`, whose providers then receive the spans) and wrap llm's models."""
    global _switched_on
    with _activating:  # first calls at once: one switches on, the others wait for it here
        if _switched_on:
            return
        _switched_on = True
        capture = None
        try:
            from . import NeuralwattInstrumentor, llm_energy

            instrumentor = NeuralwattInstrumentor()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(_implicit=True)  # an application's own instrument() replaces it
            capture = llm_energy.with_energy
        except Exception:
            logger.debug("neuralwatt: could not activate energy capture for llm", exc_info=True)
        # Each stand-in is replaced in one step, by the wrapped method ready to run: a call that
        # looks `execute` up meanwhile finds the stand-in, and so waits above.
        while _waiting:
            owner, execute = _waiting.popitem()
            try:
                setattr(owner, "execute", capture(execute) if capture else execute)  # noqa: B010
            except Exception:
                setattr(owner, "execute", execute)  # noqa: B010
                logger.debug("neuralwatt: could not wrap %s.execute", owner.__name__, exc_info=True)
