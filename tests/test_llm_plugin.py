"""The `llm` plugin, driven through the real `llm` CLI against the emulator: Neuralwatt models,
the exact energy in logs.db for every kind of call, the energy report, and spans."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

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

    result = llm_cli("neuralwatt", "models", "--json")
    listed = json.loads(result.stdout)  # the note saying so goes to stderr
    assert [m["model_id"] for m in listed][:2] == ["neuralwatt/openai/gpt-oss-20b", "neuralwatt/moonshotai/Kimi-K2.6"]
    assert "showing the built-in list" in result.stderr


def test_coexists_with_llm_neuralwatt(llm_cli, user_dir, emulator):
    plugins = {p["name"] for p in json.loads(llm_cli("plugins").output)}
    assert {"llm-neuralwatt", "opentelemetry-instrumentation-neuralwatt"} <= plugins
    models = llm_cli("models").output
    assert "neuralwatt/gpt-oss-20b" in models  # theirs
    assert MODEL_ID in models  # ours

    llm_cli("-m", MODEL_ID, "hello")
    ((_, body, _),) = logged_turns(user_dir)
    assert body["energy"] == emulator.exchanges[-1].energy


def shown(value: float) -> float:
    """What `llm neuralwatt energy --json` prints: 6 significant digits."""
    return float(f"{value:.6g}")


def test_energy_report_sums_what_the_server_sent(llm_cli, user_dir, emulator):
    llm_cli("-m", MODEL_ID, "one")
    llm_cli("-m", MODEL_ID, "--no-stream", "two")
    llm_cli("-m", "neuralwatt/zai-org/GLM-5.1-FP8", "three")

    found = json.loads(llm_cli("neuralwatt", "energy", "--json").output)
    (gpt, glm) = sorted(found["models"], key=lambda r: r["model"])
    sent = emulator.exchanges
    joules = sent[0].energy["energy_joules"] + sent[1].energy["energy_joules"]
    tokens = sent[0].usage["completion_tokens"] + sent[1].usage["completion_tokens"]
    assert gpt["model"] == MODEL_ID and gpt["requests"] == 2
    assert gpt["joules"] == shown(joules)
    assert gpt["wh"] == shown(joules / 3600)
    assert gpt["joules_per_request"] == shown(joules / 2)
    assert gpt["joules_per_output_token"] == shown(joules / tokens)
    assert gpt["carbon_g"] == shown(sent[0].energy["carbon_g_co2eq"] + sent[1].energy["carbon_g_co2eq"])
    assert gpt["cost_usd"] == shown(sent[0].cost["request_cost_usd"] + sent[1].cost["request_cost_usd"])
    assert glm["requests"] == 1 and glm["joules"] == shown(sent[2].energy["energy_joules"])
    assert found["total"]["requests"] == 3
    assert found["total"]["joules"] == shown(sum(e.energy["energy_joules"] for e in sent))
    assert found["total"]["cost_usd"] == shown(sum(e.cost["request_cost_usd"] for e in sent))


def test_energy_report_filters_by_model_and_time(llm_cli, emulator):
    llm_cli("-m", MODEL_ID, "one")
    llm_cli("-m", "neuralwatt/zai-org/GLM-5.1-FP8", "two")

    def report(*args):
        return json.loads(llm_cli("neuralwatt", "energy", "--json", *args).output)

    only_glm = report("-m", "neuralwatt/zai-org/GLM-5.1-FP8")
    assert [row["model"] for row in only_glm["models"]] == ["neuralwatt/zai-org/GLM-5.1-FP8"]
    assert only_glm["total"]["joules"] == emulator.exchanges[1].energy["energy_joules"]
    assert report("--since", "2999-01-01")["models"] == []
    assert report("--since", "2999-01-01")["total"]["requests"] == 0
    assert len(report("--since", "1h")["models"]) == 2


def test_energy_report_counts_every_call_path_once(llm_cli, emulator):
    llm_cli("-m", MODEL_ID, "streamed")
    llm_cli("-m", MODEL_ID, "--no-stream", "whole")
    llm_cli("-m", MODEL_ID, "--async", "async streamed")
    llm_cli("-m", MODEL_ID, "--async", "--no-stream", "async whole")
    llm_cli("-m", MODEL_ID, "-T", "llm_version", "a tool chain: two turns")

    (row,) = json.loads(llm_cli("neuralwatt", "energy", "--json").output)["models"]
    assert len(emulator.exchanges) == 6
    assert row["requests"] == 6
    assert row["joules"] == pytest.approx(sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)
    assert row["output_tokens"] == sum(e.usage["completion_tokens"] for e in emulator.exchanges)


def test_energy_report_table_is_in_human_units_with_totals(llm_cli, emulator):
    from opentelemetry_instrumentation_neuralwatt.llm_plugin import units

    llm_cli("-m", MODEL_ID, "one")
    llm_cli("-m", "neuralwatt/zai-org/GLM-5.1-FP8", "two")
    emulator.faults = frozenset({"no-measurement"})
    llm_cli("-m", MODEL_ID, "three")

    lines = llm_cli("neuralwatt", "energy").output.splitlines()
    sent = [e.energy for e in emulator.exchanges[:2]]
    gpt = next(line.split() for line in lines if line.startswith(MODEL_ID))
    total = next(line.split() for line in lines if line.startswith("total"))
    assert lines[0].split()[:3] == ["model", "requests", "energy"]
    assert gpt[1:4] == ["1", *units.energy(sent[0]["energy_joules"]).split()]
    assert total[1:4] == ["2", *units.energy(sent[0]["energy_joules"] + sent[1]["energy_joules"]).split()]
    assert units.carbon(sent[0]["carbon_g_co2eq"] + sent[1]["carbon_g_co2eq"]) in " ".join(total)
    assert lines[-1] == "(1 logged calls had no usable energy measurement and are not counted)"


@pytest.mark.parametrize("joules, shown", [
    (2.66764, "2.668 J"), (0.0123456, "0.01235 J"), (1234.56, "1235 J"),
    (3600 * 14.2449, "14.24 Wh"), (3600 * 999.94, "999.9 Wh"), (3.6e6 * 1.25, "1.250 kWh"), (0.0, "0 J"),
])
def test_energy_is_shown_in_the_unit_its_size_suits(joules, shown):
    from opentelemetry_instrumentation_neuralwatt.llm_plugin import units

    assert units.energy(joules) == shown


def test_carbon_and_cost_are_shown_with_four_significant_digits():
    from opentelemetry_instrumentation_neuralwatt.llm_plugin import units

    assert [units.carbon(g) for g in (0.0000311, 2.5, 1200.0)] == ["0.03110 mg", "2.500 g", "1.200 kg"]
    assert [units.dollars(usd) for usd in (0.000005234, 1.5)] == ["$0.000005234", "$1.500"]


def test_energy_report_with_nothing_logged(llm_cli, user_dir):
    llm_cli("logs", "on")
    llm_cli("-m", "echo-is-not-installed", "x", ok=False)  # creates logs.db, logs nothing
    assert (user_dir / "logs.db").exists()

    output = llm_cli("neuralwatt", "energy").output
    assert output.startswith("No Neuralwatt energy in the logs yet.")
    assert json.loads(llm_cli("neuralwatt", "energy", "--json").output)["models"] == []
    assert llm_cli("neuralwatt", "energy", "-m", MODEL_ID).output.startswith(f"No Neuralwatt energy in the logs for {MODEL_ID}.")


def test_energy_report_says_when_there_is_no_logs_database(llm_cli, tmp_path):
    missing = tmp_path / "nowhere" / "logs.db"

    result = llm_cli("neuralwatt", "energy", "-d", str(missing), ok=False)
    assert result.exit_code == 1
    assert f"no llm logs database at {missing}" in result.output
    assert llm_cli("neuralwatt", "energy", "--json", "-d", str(missing), ok=False).exit_code == 1


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
        from opentelemetry_instrumentation_neuralwatt.llm_plugin import activation
        activation.activate()  # what the first call of an llm model does
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


LAZY_APP = """
import json, sys
from click.testing import CliRunner
from llm.cli import cli  # loads the plugins, ours included

HEAVY = ["opentelemetry_instrumentation_neuralwatt.instrumentor", "opentelemetry.instrumentation.instrumentor",
         "wrapt", "openai.resources.chat.completions.completions"]
assert "neuralwatt" in CliRunner().invoke(cli, ["--help"]).output
after_help = [name for name in HEAVY if name in sys.modules]
CliRunner().invoke(cli, ["neuralwatt", "energy"])
after_report = [name for name in HEAVY if name in sys.modules]
prompt = CliRunner().invoke(cli, ["-m", "neuralwatt/openai/gpt-oss-20b", "hi"])
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
print(json.dumps({"after_help": after_help, "after_report": after_report, "prompt_exit": prompt.exit_code,
                  "after_prompt": [name for name in HEAVY if name in sys.modules],
                  "instrumented": NeuralwattInstrumentor().is_instrumented_by_opentelemetry}))
"""


def test_the_plugin_loads_no_instrumentation_until_a_model_is_called(user_dir, emulator):
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLM_LOAD_PLUGINS": "opentelemetry-instrumentation-neuralwatt"}
    done = subprocess.run([sys.executable, "-c", LAZY_APP], capture_output=True, text=True, timeout=120, env=env)

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.splitlines()[-1])
    assert state["after_help"] == [] and state["after_report"] == []
    assert state["prompt_exit"] == 0 and state["instrumented"] is True
    assert set(state["after_prompt"]) >= {"opentelemetry_instrumentation_neuralwatt.instrumentor", "wrapt"}
    ((_, body, _),) = logged_turns(user_dir)
    assert body["energy"] == emulator.exchanges[-1].energy


@pytest.fixture
def failing_models_endpoint(monkeypatch):
    """A loopback API whose /models answers 503, counting the requests it gets."""
    import http.server
    import threading

    requests = []

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NEURALWATT_API_BASE", f"http://127.0.0.1:{server.server_port}/v1")
    yield requests
    server.shutdown()
    server.server_close()


def test_a_failed_model_list_fetch_is_remembered_for_a_while(llm_cli, user_dir, failing_models_endpoint):
    from opentelemetry_instrumentation_neuralwatt.llm_plugin import catalog as llm_models

    first = llm_cli("neuralwatt", "models")
    llm_cli("models")
    llm_cli("neuralwatt", "models")

    assert first.stdout.splitlines()[0] == "neuralwatt/openai/gpt-oss-20b"  # the built-in list
    assert first.stderr == (f"Could not list models from {llm_models.api_base()} (HTTPError: HTTP Error 503: "
                            "Service Unavailable); showing the built-in list. `llm neuralwatt models --refresh` "
                            "tries again.\n")
    assert failing_models_endpoint == ["/v1/models"]  # asked once, not on every command
    cache = json.loads((user_dir / llm_models.CACHE_FILE).read_text())
    assert cache["error"] == "HTTPError: HTTP Error 503: Service Unavailable"

    cache["failed"] -= llm_models.RETRY_AFTER_FAILURE_SECONDS + 1  # a quarter of an hour later
    (user_dir / llm_models.CACHE_FILE).write_text(json.dumps(cache))
    llm_cli("neuralwatt", "models")
    assert failing_models_endpoint == ["/v1/models"] * 2

    assert llm_cli("neuralwatt", "models", "--refresh", ok=False).exit_code == 1  # --refresh always asks
    assert failing_models_endpoint == ["/v1/models"] * 3


def test_a_model_list_from_a_base_url_without_v1_says_did_you_mean(llm_cli, user_dir, emulator, monkeypatch):
    base_url = emulator.base_url.removesuffix("/v1")
    monkeypatch.setenv("NEURALWATT_API_BASE", base_url)
    listed = llm_cli("neuralwatt", "models")
    refreshed = llm_cli("neuralwatt", "models", "--refresh", ok=False)

    hint = f"Did you mean NEURALWATT_API_BASE={base_url}/v1?"
    assert listed.stderr == (f"Could not list models from {base_url} (HTTPError: HTTP Error 404: Not Found. {hint}); "
                             "showing the built-in list. `llm neuralwatt models --refresh` tries again.\n")
    assert (refreshed.exit_code, refreshed.stderr) == (1, f"Error: could not list Neuralwatt models from {base_url}: "
                                                          f"HTTP Error 404: Not Found. {hint}\n")


def test_a_failed_refresh_keeps_the_models_cached_before(llm_cli, user_dir, emulator, monkeypatch):
    listed = llm_cli("neuralwatt", "models").output
    emulator.stop()

    assert llm_cli("neuralwatt", "models", "--refresh", ok=False).exit_code == 1
    after = llm_cli("neuralwatt", "models")
    assert after.stdout == listed
    assert "showing the list cached before" in after.stderr


def test_responses_api_models_in_extra_openai_models_get_energy_too(llm_cli, user_dir, emulator):
    emulator.responses_energy = True
    (user_dir / "extra-openai-models.yaml").write_text(
        f"- model_id: nw-responses\n  model_name: openai/gpt-oss-20b\n  api_base: {emulator.base_url}\n"
        "  responses: true\n")

    llm_cli("-m", "nw-responses", "hello")

    ((model, body, _),) = logged_turns(user_dir)
    assert model == "nw-responses"
    assert emulator.exchanges[-1].request["input"]
    assert body["energy"] == emulator.exchanges[-1].energy


def test_llm_startup_benchmark_compares_llm_with_and_without_the_plugin():
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "llm_startup.py", "--pairs", "2"],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent / "benchmarks", timeout=120, check=True)
    summary, measured = result.stdout.strip().splitlines()
    measured = json.loads(measured)

    assert measured["plugin_command_listed"] == {"with": True, "without": False}
    assert measured["pairs"] == 2 and measured["ratio_wall"] > 0 and measured["ratio_cpu"] > 0
    assert summary.startswith("llm --help, with the plugin / without, median of 2 pairs: wall ")


CONCURRENT_FIRST_CALLS = """
import json, sys, threading
import llm

model = llm.get_model("neuralwatt/openai/gpt-oss-20b")
start, bodies = threading.Barrier(8), [None] * 8

def call(index):
    start.wait()  # eight first calls at once: one switches the instrumentation on, the rest wait
    response = model.prompt(f"question {index}", stream=index % 2 == 0)
    response.text()
    bodies[index] = response.response_json

threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(bodies))
"""


def test_concurrent_first_calls_switch_on_once_and_each_keeps_its_energy(user_dir, emulator):
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLM_LOAD_PLUGINS": "opentelemetry-instrumentation-neuralwatt"}
    done = subprocess.run([sys.executable, "-c", CONCURRENT_FIRST_CALLS], capture_output=True, text=True,
                          timeout=120, env=env)

    assert done.returncode == 0, done.stderr
    bodies = json.loads(done.stdout.splitlines()[-1])
    sent = {exchange.response_id: exchange.energy for exchange in emulator.exchanges}
    assert len(sent) == 8
    assert {body["id"]: body["energy"] for body in bodies} == sent


def llm_process(*args, base_url, **popen):
    """`llm ...` as a user runs it (only this plugin loaded), against `base_url`."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLM_LOAD_PLUGINS": "opentelemetry-instrumentation-neuralwatt", "NEURALWATT_API_BASE": base_url}
    return subprocess.Popen([sys.executable, "-m", "llm", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


@pytest.mark.parametrize("flags, reason", [([], "[Errno 111] Connection refused"),
                                           (["--async"], "All connection attempts failed")], ids=["sync", "async"])
def test_a_prompt_says_in_one_line_when_nothing_listens(user_dir, flags, reason):
    from conftest import free_port

    base_url = f"http://127.0.0.1:{free_port()}/v1"
    prompt = llm_process("-m", MODEL_ID, *flags, "hi", base_url=base_url)
    out, err = prompt.communicate(timeout=120)

    assert (prompt.returncode, out) == (1, "")
    assert err.splitlines() == [f"Error: Could not reach {base_url} ({reason}). Is NEURALWATT_API_BASE right?"]


@pytest.mark.parametrize("flags", [[], ["--async", "--no-stream"]], ids=["sync-stream", "async-no-stream"])
def test_a_prompt_to_a_base_url_without_v1_says_did_you_mean(user_dir, emulator, flags):
    base_url = emulator.base_url.removesuffix("/v1")
    prompt = llm_process("-m", MODEL_ID, *flags, "hi", base_url=base_url)
    out, err = prompt.communicate(timeout=120)

    assert (prompt.returncode, out) == (1, "")
    assert err.splitlines() == [f"Error: {base_url} answered HTTP 404. Did you mean NEURALWATT_API_BASE={base_url}/v1?"]
    assert [e.path for e in emulator.exchanges] == ["/chat/completions"]


@pytest.mark.parametrize("flags", [[], ["--async"]], ids=["sync", "async"])
def test_ctrl_c_during_a_prompts_stream_is_llms_own_one_line(user_dir, flags):
    """llm (click) answers Ctrl-C with "Aborted!" and exit status 1; nothing of ours adds to it."""
    import signal
    import time

    with NeuralwattEmulator(seed=2, chunk_delay=1.0) as slow:  # the answer takes 12 s
        prompt = llm_process("-m", MODEL_ID, *flags, "hi", base_url=slow.base_url,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        while not slow.exchanges and prompt.poll() is None:  # the request has arrived: the stream is on
            time.sleep(0.05)
        prompt.send_signal(signal.SIGINT)
        out, err = prompt.communicate(timeout=120)

    assert prompt.returncode == 1
    assert err == "\nAborted!\n"
    assert "Energy is measured on the GPU for every request and attributed to.".startswith(out)  # what had come
    assert not (user_dir / "logs.db").exists() or logged_turns(user_dir) == []
