"""The overhead benchmark keeps working: each variant runs, and its bare runs use a pristine SDK.

Timings are not asserted here (they belong to `benchmarks/run.py`); what is asserted is that the
benchmark measures what it says it measures.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def overhead(instrumentation, mode):
    result = subprocess.run(
        [sys.executable, "overhead.py", "--instrumentation", instrumentation, "--mode", mode,
         "--pairs", "2", "--batch", "2", "--chunks", "20"],
        capture_output=True, text=True, cwd=BENCHMARKS, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("instrumentation", ["ours-noop", "ours-sdk", "contract-floor"])
@pytest.mark.parametrize("mode", ["stream", "json"])
def test_each_variant_alternates_bare_and_instrumented_runs(instrumentation, mode):
    result = overhead(instrumentation, mode)

    assert result["instrumentation"] == instrumentation and result["mode"] == mode
    assert len(result["ratios"]) == 2 and all(ratio > 0 for ratio in result["ratios"])
    # Our uninstrument() puts back every attribute instrument() patched.
    assert result["uninstrument_restores_sdk"] is True


def test_the_switch_swaps_exactly_what_instrument_patched():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from overhead import PatchSwitch, instrumentor, mock_client, workload
    finally:
        sys.path.remove(str(BENCHMARKS))
    from openai.resources.chat.completions import Completions

    pristine = Completions.__dict__["create"]
    made, options = instrumentor("ours-noop", [])
    switch = PatchSwitch(made, options, workload(mock_client(3), "json", 1))
    try:
        patched = Completions.__dict__["create"]
        switch.set_state(False)
        assert Completions.__dict__["create"] is pristine
        switch.set_state(True)
        assert Completions.__dict__["create"] is patched is not pristine
    finally:
        assert switch.uninstrument_restores_sdk()
    assert Completions.__dict__["create"] is pristine



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
    line per request."""
    import openai

    sys.path.insert(0, str(BENCHMARKS))
    try:
        from run import start_emulator
    finally:
        sys.path.remove(str(BENCHMARKS))
    emulator, base_url = start_emulator(stderr=subprocess.PIPE)
    try:
        with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client:
            answer = client.chat.completions.create(model="openai/gpt-oss-20b", messages=[{"role": "user", "content": "hi"}])
            list(client.chat.completions.create(model="openai/gpt-oss-20b", stream=True,
                                                messages=[{"role": "user", "content": "hi"}]))
    finally:
        emulator.terminate()
        _, log = emulator.communicate(timeout=30)
    assert answer.usage.completion_tokens == 1000  # the benchmark's answer length
    assert log == ""
