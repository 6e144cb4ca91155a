"""Overhead of this instrumentation and of its peers against the bare SDK client, on every path.

    .venv/bin/python benchmarks/run.py                   # the comparison (or: bash benchmarks/run.sh)
    .venv/bin/python benchmarks/run.py --update-readme   # the same, and its tables into README.md
    .venv/bin/python benchmarks/run.py --quick           # CI: every path once, tiny workloads, no peers

Eight paths: openai chat completions and the Responses API, anthropic Messages with the SDK's own
tracing off and on, each streamed and whole. Rows: ours with no-op providers (our own code), ours
with the real SDK, the contract floor (contract_floor.py: only the SDK calls the telemetry contract
requires), and the peers in their default configuration, each in its own virtual environment under
benchmarks/.venvs/. Every SDK row gets the same SDK setup (overhead.Probe: a SimpleSpanProcessor to
an exporter that drops the spans, an in-memory metric reader) and, for anthropic's own tracing, the
same tracer provider.

Columns: a 1000-chunk stream over canned bytes (the streaming rule is judged there), whole calls
over canned bytes (reported as µs of our own work per call), whole calls over loopback HTTP to the
emulator in its own process, whose CPU is not counted (the whole-call rule is judged there: a
whole call's bare cost includes the HTTP exchange, as in production, where TLS and a real network
make it dearer still). A cell is the median of processes × alternating pairs of client CPU-time
ratios (instrumented ÷ bare); the whole measurement runs twice, and each cell reads "run 1 / run 2":
their difference is the spread the verdicts compare margins against.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import extras
import report
from overhead import PEERS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"
# The peers' versions are pinned, so that two measurements compare like with like: moving one is a
# deliberate edit here (then the venv under benchmarks/.venvs/ is brought up to it).
PINS = {
    "genai-openai": "1.3b0", "genai-anthropic": "1.3b0",
    "openllmetry-openai": "0.62.4", "openllmetry-anthropic": "0.62.4",
    "openinference-openai": "0.1.66", "openinference-anthropic": "3.1.0",
}
# A row of the tables: ours, the floor, or a family of peers (its openai and its anthropic member).
FAMILIES = {
    "genai": ("genai-openai", "genai-anthropic"),
    "openllmetry": ("openllmetry-openai", "openllmetry-anthropic"),
    "openinference": ("openinference-openai", "openinference-anthropic"),
}
OURS = ["ours-noop", "ours-sdk", "contract-floor"]
# The paths, in groups of two (streamed and whole): (key, overhead.py --api, anthropic's own tracing).
GROUPS = [("chat", "chat", "off"), ("responses", "responses", "off"),
          ("messages-off", "messages", "off"), ("messages-on", "messages", "on")]
CELLS = ["stream:canned", "whole:canned", "whole:loopback"]
WHOLE_TOKENS = 3  # the loopback emulator's answer to a whole call: it finishes (max tokens are 4 and 16)
STREAM_TOKENS = 1000  # ... and to a stream: as long as the canned one


def sdk_versions() -> dict:
    """The SDK versions of the project's environment, which every peer's environment gets too."""
    from importlib.metadata import version

    return {package: version(package) for package in ("openai", "anthropic", "opentelemetry-sdk")}


def peer_python(name: str, versions: dict) -> Path:
    """A virtual environment with the SDKs of the project's environment and one peer (pinned)."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    wanted = [f"{package}=={number}" for package, number in versions.items()] + [f"{PEERS[name][0]}=={PINS[name]}"]
    marker = venv / "benchmark-requirements.txt"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not marker.exists() or marker.read_text().split() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
        marker.write_text("\n".join(wanted) + "\n")
    return python


def instrumentation(row: str, api: str) -> str:
    """overhead.py's --instrumentation for a row on an API: a family's openai or anthropic member."""
    return FAMILIES[row][api == "messages"] if row in FAMILIES else row


def start_emulator(tokens: int = WHOLE_TOKENS, **popen) -> tuple[subprocess.Popen, str]:
    """The emulator in its own process (its CPU is not the client's), quiet (a line per request
    would flood the output), with energy on the Responses API too (the emulator has Nagle's
    algorithm off, as production servers do); returned once it listens."""
    emulator = subprocess.Popen([sys.executable, "-m", "opentelemetry_instrumentation_neuralwatt.emulator",
                                 "--port", "0", "--tokens", str(tokens), "--responses-energy", "--quiet"],
                                stdout=subprocess.PIPE, text=True, **popen)
    banner = emulator.stdout.readline()  # "Neuralwatt emulator on http://127.0.0.1:<port>/v1 ...": it listens
    emulator.stdout.close()
    return emulator, banner.split()[3]


def pool(runs: list) -> dict:
    """Several processes' results for one row, pooled cell by cell: a process's code layout alone
    moves its CPU times by a few percent, so one process is one sample of that too."""
    cells = {}
    for cell in runs[0]["cells"]:
        found = [run["cells"][cell] for run in runs]
        failed = next((one["error"] for one in found if "error" in one), None)
        if failed:
            cells[cell] = {"error": failed}
            continue
        ratios = [ratio for one in found for ratio in one["ratios"]]
        cells[cell] = {
            "median_ratio": statistics.median(ratios), "ratios": ratios,
            "bare_ms": statistics.median(one["bare_ms"] for one in found),
            "instrumented_ms": statistics.median(one["instrumented_ms"] for one in found),
            "extra_us": statistics.median(extra for one in found for extra in one["extras_us"]),
            "telemetry": found[0]["telemetry"] and {
                "records": all(one["telemetry"]["records"] for one in found),
                "energy_on_span": all(one["telemetry"]["energy_on_span"] for one in found)}}
    return {**{key: runs[0][key] for key in ("instrumentation", "api", "sdk_tracing", "versions")},
            "uninstrument_restores_sdk": all(run["uninstrument_restores_sdk"] for run in runs), "cells": cells}


def measure(python: Path | str, name: str, api: str, tracing: str, urls: dict, settings) -> dict:
    """One row of one group of paths: `processes` processes, each measuring every cell."""
    if isinstance(python, str):  # the peer's environment could not be made
        return {"error": python}
    command = [str(python), str(HERE / "overhead.py"), "--instrumentation", name, "--api", api,
               "--sdk-tracing", tracing, "--cells", *settings.cells, "--pairs", str(settings.pairs),
               "--chunks", str(settings.chunks), "--batch", str(settings.batch),
               "--loopback-batch", str(settings.loopback_batch), "--base-url", urls["whole"]]
    if "stream" in urls:
        command += ["--stream-base-url", urls["stream"]]
    runs = []
    for _ in range(settings.processes):
        result = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or ["failed"]
            return {"error": lines[-1][:200]}
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return pool(runs)


def run_once(index: int, pythons: dict, urls: dict, settings) -> dict:
    """One measurement of every row on every path: {(group, row): pooled result}."""
    results = {}
    for group, api, tracing in settings.groups:
        for row in settings.rows:
            started = time.monotonic()
            name = instrumentation(row, api)
            result = results[(group, row)] = measure(pythons[name], name, api, tracing, urls, settings)
            print(f"[run {index}] {group} {name}: {report.progress(result)} ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    return results


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15, help="alternating pairs per process and cell")
    parser.add_argument("--processes", type=int, default=3, help="processes per row and path group")
    parser.add_argument("--runs", type=int, default=2, help="whole measurements, side by side in each cell")
    parser.add_argument("--groups", nargs="+", choices=[group for group, _, _ in GROUPS],
                        default=[group for group, _, _ in GROUPS], help="only these paths")
    parser.add_argument("--skip-peers", "--paths-only", action="store_true",
                        help="only our rows and the contract floor (no peer environments needed)")
    parser.add_argument("--loopback-streams", action="store_true",
                        help="streams over loopback too (the streaming rule stays on canned bytes)")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (valgrind; openai chat)")
    parser.add_argument("--update-readme", action="store_true", help="write the tables into README.md's Overhead section")
    parser.add_argument("--save", type=Path, help="write every measurement (JSON) to this file")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (CI): every path once, tiny workloads, no peers; fails if a path fails")
    settings = parser.parse_args(argv)
    if settings.quick and settings.update_readme:
        parser.error("--quick figures are a smoke run's: not for the README")
    settings.chunks, settings.batch, settings.loopback_batch = 1000, 50, 20
    if settings.quick:
        settings.pairs, settings.processes, settings.runs, settings.skip_peers = 2, 1, 1, True
        settings.chunks, settings.batch, settings.loopback_batch = 50, 5, 3
    settings.groups = [group for group in GROUPS if group[0] in settings.groups]
    settings.rows = OURS + ([] if settings.skip_peers else list(FAMILIES))
    settings.cells = CELLS + (["stream:loopback"] if settings.loopback_streams else [])
    return settings


def environments(settings) -> dict:
    """The Python each instrumentation runs in: the project's for ours, a pinned venv per peer (or,
    if it cannot be installed, why: its cells say so, the other rows still run)."""
    pythons = {name: Path(sys.executable) for name in OURS}
    versions = sdk_versions()
    for row in settings.rows:
        for _, api, _ in settings.groups:
            name = instrumentation(row, api)
            if name not in pythons:
                try:
                    pythons[name] = peer_python(name, versions)
                except subprocess.CalledProcessError as error:
                    pythons[name] = f"could not install {PEERS[name][0]}=={PINS[name]} (exit {error.returncode})"
    return pythons


def main(argv=None):
    settings = parse(argv)
    started = time.monotonic()
    # Stopped with SIGTERM, still stop the emulators (the `finally` below): they would outlive us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    pythons = environments(settings)
    emulators = {"whole": start_emulator(WHOLE_TOKENS)}
    if settings.loopback_streams:
        emulators["stream"] = start_emulator(STREAM_TOKENS)
    try:
        urls = {mode: url for mode, (_, url) in emulators.items()}
        runs = [run_once(index + 1, pythons, urls, settings) for index in range(settings.runs)]
    finally:
        for emulator, _ in emulators.values():
            emulator.terminate()
            emulator.wait()
    wall = time.monotonic() - started
    text = report.render(runs, settings, wall, sdk_versions())
    print(text)
    if settings.save:
        settings.save.write_text(json.dumps([{" / ".join(key): value for key, value in run.items()} for run in runs]))
    if settings.update_readme:
        report.update_readme(ROOT / "README.md", text)
        print("\nREADME.md: the Overhead section's tables replaced")
    if not settings.quick:
        extras.main(settings.callgrind)
    print(f"\nwall time: {time.monotonic() - started:.0f} s ({wall / 60:.1f} min for the tables)")
    if report.failures(runs):
        raise SystemExit("a benchmark path failed to run: " + "; ".join(report.failures(runs)))


if __name__ == "__main__":
    main()
