"""The overhead benchmark keeps working: each variant runs, and its bare runs use a pristine SDK.

Timings are not asserted here (they belong to `benchmarks/run.py`); what is asserted is that the
benchmark measures what it says it measures, and that its report judges what the rule says.
"""

import json
import subprocess
import sys
from pathlib import Path

import openai
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def benchmark_module(name):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def overhead(instrumentation, *cells, api="chat", tracing="off", base_url=None):
    command = [sys.executable, "overhead.py", "--instrumentation", instrumentation, "--api", api,
               "--sdk-tracing", tracing, "--cells", *cells, "--pairs", "2", "--batch", "2", "--loopback-batch", "2",
               "--chunks", "20"]
    result = subprocess.run(command + (["--base-url", base_url] if base_url else []),
                            capture_output=True, text=True, cwd=BENCHMARKS, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("instrumentation", ["ours-noop", "ours-sdk", "contract-floor"])
def test_each_variant_alternates_bare_and_instrumented_runs(instrumentation):
    result = overhead(instrumentation, "stream:canned", "whole:canned")

    assert result["instrumentation"] == instrumentation and set(result["cells"]) == {"stream:canned", "whole:canned"}
    for cell in result["cells"].values():
        assert len(cell["ratios"]) == 2 and all(ratio > 0 for ratio in cell["ratios"])
        # A row on the real SDK is seen to record the call, energy included; no-op providers show nothing.
        if instrumentation == "ours-noop":
            assert cell["telemetry"] is None
        else:
            assert cell["telemetry"] == {"records": True, "spans": 1, "energy_on_span": True}
    # Our uninstrument() puts back every attribute instrument() patched.
    assert result["uninstrument_restores_sdk"] is True


needs_responses = pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"),
                                     reason="this openai release predates the Responses API")


@pytest.mark.parametrize("api, tracing", [("chat", "off"), pytest.param("responses", "off", marks=needs_responses),
                                          ("messages", "off"), ("messages", "on")])
def test_every_path_runs_over_loopback_with_energy_on_the_span(api, tracing):
    """Whole calls are judged over loopback HTTP: every API reaches the emulator (anthropic at the
    base URL without /v1), and its answers carry energy (Responses too: --responses-energy)."""
    emulator, base_url = benchmark_module("run").start_emulator()
    try:
        result = overhead("ours-sdk", "whole:loopback", api=api, tracing=tracing, base_url=base_url)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    cell = result["cells"]["whole:loopback"]
    assert cell["telemetry"] == {"records": True, "spans": 1, "energy_on_span": True}
    assert len(cell["ratios"]) == 2 and cell["bare_ms"] > 0


def test_the_switch_swaps_exactly_what_instrument_patched():
    overhead_module = benchmark_module("overhead")
    from openai.resources.chat.completions import Completions

    pristine = Completions.__dict__["create"]
    made, options = overhead_module.instrumentor("ours-noop", [])
    run = overhead_module.workload(overhead_module.mock_client(3), "whole", 1)
    switch = overhead_module.PatchSwitch(made, options, run)
    try:
        patched = Completions.__dict__["create"]
        switch.set_state(False)
        assert Completions.__dict__["create"] is pristine
        switch.set_state(True)
        assert Completions.__dict__["create"] is patched is not pristine
    finally:
        assert switch.uninstrument_restores_sdk()
    assert Completions.__dict__["create"] is pristine


@needs_responses
def test_canned_answers_each_get_their_own_response_id():
    """An instrumentation may key its state by response id (OpenLLMetry's Responses wrapper records
    no span for a repeated one), so the canned bytes number their answers, as the live service does."""
    overhead_module = benchmark_module("overhead")
    # Each cell of a process has a client of its own: the ids are unique across clients too.
    clients = [overhead_module.make_client("responses", 3) for _ in range(2)]
    ids = [client.responses.create(model="m", input="x").id for client in clients for _ in range(2)]
    assert len(set(ids)) == 4 and all(id.startswith("resp_") for id in ids)


def results(ours, peer, noop, floor):
    """Two runs' results of one path group (openai chat), from each row's stream-canned ratios."""
    def row(ratio):
        return {"cells": {"stream:canned": {"median_ratio": ratio, "telemetry": None}}}

    return [{("chat", "ours-sdk"): row(ours[run]), ("chat", "genai"): row(peer[run]),
             ("chat", "ours-noop"): row(noop[run]), ("chat", "contract-floor"): row(floor[run])} for run in (0, 1)]


def test_the_report_judges_margins_against_the_spread():
    report = benchmark_module("report")
    rows, cells = ["ours-noop", "ours-sdk", "contract-floor", "genai"], ["stream:canned"]

    clear = report.verdicts(results([1.02, 1.03], [1.20, 1.22], [1.01, 1.02], [1.00, 1.01]), "chat", rows, cells)
    # Ahead by 0.17 at least, against a spread of 0.02; own code within 1.03; +0.02 beyond the floor.
    assert "**yes**" in clear[0]
    assert "**within**" in clear[1] and "**within**" in clear[2]

    within_noise = report.verdicts(results([1.02, 1.10], [1.12, 1.13], [1.02, 1.04], [1.00, 1.00]), "chat", rows, cells)
    # Ahead in both runs, but by 0.03 in the second, under the SDK row's spread of 0.08.
    assert "**no**" in within_noise[0] and "margin +0.030, spread 0.080" in within_noise[0]
    assert "over in run 2" in within_noise[1] and "over in run 2" in within_noise[2]


def test_a_peer_that_records_nothing_on_a_path_is_not_applicable_not_cheap():
    report = benchmark_module("report")
    silent = {"cells": {"whole:canned": {"median_ratio": 1.0, "telemetry": {"records": False}}}}
    assert report.value(silent, "whole:canned").startswith("n/a")


def test_the_quick_run_needs_no_peers():
    settings = benchmark_module("run").parse(["--quick"])
    assert settings.rows == ["ours-noop", "ours-sdk", "contract-floor"] and settings.runs == 1
    assert [group for group, _, _ in settings.groups] == ["chat", "responses", "messages-off", "messages-on"]
    assert settings.cells == ["stream:canned", "whole:canned", "whole:loopback"]


def test_the_scaling_benchmark_measures_every_case_at_n_and_4n():
    result = subprocess.run([sys.executable, "scaling.py", "--quick"], capture_output=True, text=True,
                            cwd=BENCHMARKS, timeout=300, check=True)
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row["case"] for row in rows] == ["history", "stream_text", "choice_indexes", "long_line"]
    for row in rows:
        assert row["4n"]["n"] == 4 * row["n"]["n"]
        assert all(row[size][column] >= 0 for size in ("n", "4n") for column in ("bare_s", "ours_s"))


def test_the_overhead_benchmarks_emulator_is_quiet():
    """benchmarks/run.py starts the emulator with --quiet: its output is the benchmark's, not a
    line per request. Its whole answers finish short, as the canned ones do."""
    import openai

    run = benchmark_module("run")
    emulator, base_url = run.start_emulator(stderr=subprocess.PIPE)
    try:
        with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client:
            answer = client.chat.completions.create(model="openai/gpt-oss-20b", max_tokens=4,
                                                    messages=[{"role": "user", "content": "hi"}])
            list(client.chat.completions.create(model="openai/gpt-oss-20b", stream=True,
                                                messages=[{"role": "user", "content": "hi"}]))
    finally:
        emulator.terminate()
        _, log = emulator.communicate(timeout=30)
    assert answer.usage.completion_tokens == run.WHOLE_TOKENS and answer.choices[0].finish_reason == "stop"
    assert log == ""
