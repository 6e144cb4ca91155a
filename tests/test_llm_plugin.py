"""The `llm` plugin, driven through the real `llm` CLI against the emulator: Neuralwatt models,
the exact energy in logs.db for every kind of call, the energy report, and spans."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

MODEL_ID = "neuralwatt/openai/gpt-oss-20b"


@pytest.fixture
def user_dir(tmp_path, monkeypatch, emulator):
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    monkeypatch.setenv("NEURALWATT_API_BASE", emulator.base_url)
    monkeypatch.setenv("NEURALWATT_API_KEY", "nw-test-key")
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    return tmp_path


@pytest.fixture
def llm_cli(user_dir, telemetry):
    """Runs `llm ...` in-process; the instrumentation (and so the plugin's capture) is on."""
    from llm.cli import cli  # loads the plugins, ours included

    def run(*args, ok=True):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def logged_turns(user_dir):
    db = sqlite3.connect(user_dir / "logs.db")
    try:
        rows = db.execute("select model, response_json, output_tokens from turns order by datetime_utc").fetchall()
    finally:
        db.close()
    return [(model, json.loads(body), tokens) for model, body, tokens in rows]


@pytest.mark.parametrize("flags", [[], ["--no-stream"], ["--async"], ["--async", "--no-stream"]],
                         ids=["stream", "no-stream", "async-stream", "async-no-stream"])
def test_every_kind_of_call_logs_the_exact_energy(llm_cli, user_dir, emulator, flags):
    result = llm_cli("-m", MODEL_ID, *flags, "How green is this answer?")

    assert result.output.startswith("Energy is measured on the GPU")
    ((model, body, tokens),) = logged_turns(user_dir)
    exchange = emulator.exchanges[-1]
    assert model == MODEL_ID
    assert body["id"] == exchange.response_id
    assert body["energy"] == exchange.energy
    assert body["cost"] == exchange.cost
    assert tokens == exchange.usage["completion_tokens"]


def test_llm_logs_json_shows_the_energy(llm_cli, emulator):
    llm_cli("-m", MODEL_ID, "hello")

    (logged,) = json.loads(llm_cli("logs", "--json", "-n", "1").output)
    assert logged["response_json"]["energy"] == emulator.exchanges[-1].energy


@pytest.mark.parametrize("flags", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_tool_call_turns_each_log_their_own_energy(llm_cli, user_dir, emulator, flags):
    llm_cli("-m", MODEL_ID, *flags, "-T", "llm_version", "Which llm version is this?")

    turns = logged_turns(user_dir)
    assert len(turns) == 2 == len(emulator.exchanges)
    assert [body["energy"] for _, body, _ in turns] == [e.energy for e in emulator.exchanges]
    assert emulator.exchanges[0].request["tools"][0]["function"]["name"] == "llm_version"
    assert emulator.exchanges[1].request["messages"][-1]["role"] == "tool"


def test_unmeasured_calls_are_logged_as_unmeasured(llm_cli, user_dir, emulator):
    emulator.faults = frozenset({"no-measurement"})
    llm_cli("-m", MODEL_ID, "hello")

    ((_, body, _),) = logged_turns(user_dir)
    assert body["energy"] == {"measurement_available": False}


def test_extra_openai_models_pointing_at_neuralwatt_get_energy_too(llm_cli, user_dir, emulator):
    (user_dir / "extra-openai-models.yaml").write_text(
        f"- model_id: my-neuralwatt\n  model_name: openai/gpt-oss-20b\n  api_base: {emulator.base_url}\n")

    llm_cli("-m", "my-neuralwatt", "hello")

    ((model, body, _),) = logged_turns(user_dir)
    assert model == "my-neuralwatt"
    assert body["energy"] == emulator.exchanges[-1].energy


def test_calls_produce_the_contracts_spans_and_metrics(llm_cli, user_dir, emulator, telemetry):
    llm_cli("-m", MODEL_ID, "hello")

    ((_, body, _),) = logged_turns(user_dir)
    span = telemetry.span()
    assert span.name == "chat openai/gpt-oss-20b"
    assert span.attributes["neuralwatt.energy.joules"] == body["energy"]["energy_joules"]
    assert span.attributes["gen_ai.response.id"] == body["id"]
    assert telemetry.total("neuralwatt.energy") == body["energy"]["energy_joules"]


def test_models_are_discovered_and_cached(llm_cli, user_dir, emulator):
    listed = llm_cli("neuralwatt", "models").output.splitlines()

    assert listed == [
        "neuralwatt/openai/gpt-oss-20b  (context 16384)",
        "neuralwatt/moonshotai/Kimi-K2.6  (context 262144, vision)",
        "neuralwatt/Qwen/Qwen3.6-35B-A3B  (context 131072, vision)",
        "neuralwatt/zai-org/GLM-5.1-FP8  (context 202752)",
        "neuralwatt/mistralai/Devstral-Small-2-24B-Instruct-2512  (context 262144, vision)",
    ]
    cache = json.loads((user_dir / "neuralwatt-models.json").read_text())
    assert cache["api_base"] == emulator.base_url
    assert len(emulator.exchanges) == 0  # GET /models is not a logged exchange
    assert "neuralwatt/openai/gpt-oss-20b" in llm_cli("models").output


def test_cached_models_survive_the_api_going_away(llm_cli, user_dir, emulator):
    llm_cli("neuralwatt", "models")
    emulator.stop()

    assert llm_cli("neuralwatt", "models").output.splitlines()[0] == "neuralwatt/openai/gpt-oss-20b  (context 16384)"
    refreshed = llm_cli("neuralwatt", "models", "--refresh", ok=False)
    assert refreshed.exit_code == 1
    assert "could not list Neuralwatt models" in refreshed.output


def test_offline_without_cache_uses_the_built_in_list(llm_cli, emulator):
    emulator.stop()

    listed = json.loads(llm_cli("neuralwatt", "models", "--json").output)
    assert [m["model_id"] for m in listed][:2] == ["neuralwatt/openai/gpt-oss-20b", "neuralwatt/moonshotai/Kimi-K2.6"]


def test_coexists_with_llm_neuralwatt(llm_cli, user_dir, emulator):
    plugins = {p["name"] for p in json.loads(llm_cli("plugins").output)}
    assert {"llm-neuralwatt", "opentelemetry-instrumentation-neuralwatt"} <= plugins
    models = llm_cli("models").output
    assert "neuralwatt/gpt-oss-20b" in models  # theirs
    assert MODEL_ID in models  # ours

    llm_cli("-m", MODEL_ID, "hello")
    ((_, body, _),) = logged_turns(user_dir)
    assert body["energy"] == emulator.exchanges[-1].energy


def test_energy_report_sums_what_the_server_sent(llm_cli, user_dir, emulator):
    llm_cli("-m", MODEL_ID, "one")
    llm_cli("-m", MODEL_ID, "--no-stream", "two")
    llm_cli("-m", "neuralwatt/zai-org/GLM-5.1-FP8", "three")

    (gpt, glm) = sorted(json.loads(llm_cli("neuralwatt", "energy", "--json").output), key=lambda r: r["model"])
    sent = emulator.exchanges
    joules = sent[0].energy["energy_joules"] + sent[1].energy["energy_joules"]
    tokens = sent[0].usage["completion_tokens"] + sent[1].usage["completion_tokens"]
    assert gpt["model"] == MODEL_ID and gpt["requests"] == 2
    assert gpt["joules"] == pytest.approx(joules, rel=1e-12)
    assert gpt["wh"] == pytest.approx(joules / 3600, rel=1e-12)
    assert gpt["joules_per_request"] == pytest.approx(joules / 2, rel=1e-12)
    assert gpt["joules_per_output_token"] == pytest.approx(joules / tokens, rel=1e-12)
    assert gpt["carbon_g"] == pytest.approx(sent[0].energy["carbon_g_co2eq"] + sent[1].energy["carbon_g_co2eq"], rel=1e-12)
    assert gpt["cost_usd"] == pytest.approx(sent[0].cost["request_cost_usd"] + sent[1].cost["request_cost_usd"], rel=1e-12)
    assert glm["requests"] == 1 and glm["joules"] == sent[2].energy["energy_joules"]

    only_glm = json.loads(llm_cli("neuralwatt", "energy", "--json", "-m", "neuralwatt/zai-org/GLM-5.1-FP8").output)
    assert [row["model"] for row in only_glm] == ["neuralwatt/zai-org/GLM-5.1-FP8"]
    table = llm_cli("neuralwatt", "energy").output
    assert f"{joules:.4f}" in table and "total" in table
    assert json.loads(llm_cli("neuralwatt", "energy", "--json", "--since", "2999-01-01").output) == []
    assert len(json.loads(llm_cli("neuralwatt", "energy", "--json", "--since", "1h").output)) == 2


def test_energy_report_with_nothing_logged(llm_cli):
    output = llm_cli("neuralwatt", "energy").output
    assert output.startswith("No Neuralwatt energy in the logs yet.")


def test_energy_report_rejects_a_bad_since(llm_cli):
    result = llm_cli("neuralwatt", "energy", "--since", "last tuesday", ok=False)
    assert result.exit_code == 2
    assert "neither a date/time" in result.output


APP = """
import sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

exporter, provider = InMemorySpanExporter(), TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with NeuralwattEmulator(seed=1) as emulator:
    def app():
        NeuralwattInstrumentor().instrument(tracer_provider=provider, hosts=[f"127.0.0.1:{emulator.port}"])
    def plugin():
        from opentelemetry_instrumentation_neuralwatt import llm_plugin  # activates on import
    for step in sys.argv[1:]:
        {"app": app, "plugin": plugin}[step]()
    client = openai.OpenAI(base_url=emulator.base_url, api_key="k")
    list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    (span,) = exporter.get_finished_spans()
    print(span.attributes["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"])
"""


@pytest.mark.parametrize("order", [["plugin", "app"], ["app", "plugin"]], ids=["plugin-first", "app-first"])
def test_the_applications_own_instrument_call_wins_over_the_plugin(order, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLM_USER_PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", APP, *order], capture_output=True, text=True, timeout=60, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
