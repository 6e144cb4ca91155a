"""Overhead of this instrumentation and of its peers, against the bare `openai` client.

    .venv/bin/python benchmarks/run.py            # or: bash benchmarks/run.sh (sets everything up)

For each instrumentation (ours with no-op providers = our own code's cost; ours with the real
SDK; the contract floor = only the SDK calls the telemetry contract requires, see
contract_floor.py; the official opentelemetry-instrumentation-genai-openai, OpenLLMetry's
opentelemetry-instrumentation-openai and openinference-instrumentation-openai in their default
configurations, each in its own virtual environment under benchmarks/.venvs/), client CPU time
per request is measured against the bare client in alternating pairs (median of pair ratios),
for a 1000-chunk stream and for non-streaming calls, over canned bytes (httpx MockTransport) and
over loopback HTTP to the emulator (run in its own process, so its CPU is not counted). Our own
ratios are also counted in instructions with callgrind, which does not drift. Then memory.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"
PEERS = {
    "genai-openai": "opentelemetry-instrumentation-genai-openai",
    "openllmetry": "opentelemetry-instrumentation-openai",
    "openinference": "openinference-instrumentation-openai",
}
LABELS = {
    "ours-noop": "ours, no-op providers (our code)",
    "ours-sdk": "ours, real SDK",
    "contract-floor": "contract floor: the SDK calls the contract requires, nothing else",
    "genai-openai": "opentelemetry-instrumentation-genai-openai",
    "openllmetry": "OpenLLMetry opentelemetry-instrumentation-openai",
    "openinference": "openinference-instrumentation-openai",
}


def peer_python(name: str, openai_version: str) -> Path:
    """A virtual environment with the openai SDK, the OpenTelemetry SDK and one peer."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"openai=={openai_version}",
                        "opentelemetry-sdk", PEERS[name]], check=True)
    return python


def run_overhead(python: Path, instrumentation: str, mode: str, transport: str, base_url: str, pairs: int,
                 processes: int, extra: tuple = ()) -> dict:
    """Pair ratios from several processes, pooled: a process's code layout alone moves its CPU
    times by a few percent, so one process is one sample of that too."""
    command = [str(python), str(HERE / "overhead.py"), "--instrumentation", instrumentation, "--mode", mode,
               "--transport", transport, "--pairs", str(pairs)]
    if transport == "emulator":
        command += ["--base-url", base_url, "--batch", "20"]
    command += list(extra)
    runs = []
    for _ in range(processes):
        result = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
        if result.returncode != 0:
            return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    ratios = [ratio for run in runs for ratio in run["ratios"]]
    return {**runs[0], "pairs": len(ratios), "processes": processes, "ratios": ratios,
            "median_ratio": statistics.median(ratios), "quartiles": statistics.quantiles(ratios, n=4)[::2],
            "bare_ms": statistics.median(run["bare_ms"] for run in runs),
            "instrumented_ms": statistics.median(run["instrumented_ms"] for run in runs),
            "uninstrument_restores_sdk": all(run["uninstrument_restores_sdk"] for run in runs)}


@functools.cache
def instructions(which: str, mode: str, runs: int) -> int:
    """Instructions callgrind counts for `runs` runs of one workload (the bare ones are shared)."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         str(HERE / "callgrind_target.py"), which, mode, str(runs)],
        capture_output=True, text=True, cwd=HERE, check=True).stderr
    return int(next(line for line in out.splitlines() if "Collected" in line).split()[-1])


def callgrind_ratio(mode: str, variant: str):
    """Instructions per request, instrumented / bare, from the difference of 2 and 6 runs."""
    if not shutil.which("valgrind"):
        return None
    bare = instructions("bare", mode, 6) - instructions("bare", mode, 2)
    ours = instructions(variant, mode, 6) - instructions(variant, mode, 2)
    return ours / bare


# Every path, beside its own contract floor: (label, overhead.py arguments, mode, rule beyond the floor).
PATHS = [
    ("openai chat, streaming", ("--api", "chat"), "stream", 0.03),
    ("openai chat, whole", ("--api", "chat"), "json", 0.05),
    ("openai Responses, streaming", ("--api", "responses"), "stream", 0.03),
    ("openai Responses, whole", ("--api", "responses"), "json", 0.05),
    ("anthropic Messages, streaming, its tracing off", ("--api", "messages", "--sdk-tracing", "off"), "stream", 0.03),
    ("anthropic Messages, whole, its tracing off", ("--api", "messages", "--sdk-tracing", "off"), "json", 0.05),
    ("anthropic Messages, streaming, its tracing on", ("--api", "messages", "--sdk-tracing", "on"), "stream", 0.03),
    ("anthropic Messages, whole, its tracing on", ("--api", "messages", "--sdk-tracing", "on"), "json", 0.05),
]
OWN_CODE_RULE = {"stream": 1.03, "json": 1.05}


def start_emulator(**popen) -> tuple[subprocess.Popen, str]:
    """The emulator in its own process, answering 1000 tokens, quiet (a line per request would
    flood the output); returned once it listens, with its base URL."""
    emulator = subprocess.Popen([sys.executable, "-m", "opentelemetry_instrumentation_neuralwatt.emulator",
                                 "--port", "0", "--tokens", "1000", "--quiet"], stdout=subprocess.PIPE, text=True,
                                **popen)
    banner = emulator.stdout.readline()  # "Neuralwatt emulator on http://127.0.0.1:<port>/v1 ...": it listens
    emulator.stdout.close()
    return emulator, banner.split()[3]


def paths_table(pairs: int, processes: int, quick: bool) -> tuple[str, bool]:
    """Every path: our own code (no-op providers), ours with the SDK and the contract floor, each
    against the bare client in the same process, and what we add beyond the floor, with the rules."""
    extra = ("--chunks", "50", "--batch", "5") if quick else ()
    rows = ["| path | own code, no-op providers (rule) | with the SDK | contract floor | beyond the floor (rule) |",
            "|---|---|---|---|---|"]
    ran = True
    for label, arguments, mode, rule in PATHS:
        found = {name: run_overhead(Path(sys.executable), name, mode, "mock", "", pairs, processes,
                                    arguments + extra)
                 for name in ("ours-noop", "ours-sdk", "contract-floor")}
        if any("error" in result for result in found.values()):
            rows.append(f"| {label} | failed: " + "; ".join(r.get("error", "")[:60] for r in found.values()) + " |")
            ran = False
            continue
        noop, sdk, floor = (found[n]["median_ratio"] for n in ("ours-noop", "ours-sdk", "contract-floor"))
        beyond = sdk - floor
        rows.append(f"| {label} | {noop:.3f}x ({OWN_CODE_RULE[mode]:.2f}) | {sdk:.3f}x | {floor:.3f}x | "
                    f"{beyond:+.3f} (+{rule:.2f}){'' if beyond <= rule else ' over'} |")
        print(label, json.dumps({n: r["median_ratio"] for n, r in found.items()}), file=sys.stderr)
    return "\n".join(rows), ran


def main():
    parser = argparse.ArgumentParser(description="Overhead against the bare openai client, and the peers'.")
    parser.add_argument("--pairs", type=int, default=15, help="alternating pairs per process")
    parser.add_argument("--processes", type=int, default=3, help="processes per measurement")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--skip-callgrind", action="store_true")
    parser.add_argument("--paths-only", action="store_true", help="only the table of every path against its floor")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (CI): every path once, tiny workloads, nothing else; no figure to quote")
    args = parser.parse_args()
    if args.quick or args.paths_only:
        pairs, processes = (2, 1) if args.quick else (args.pairs, args.processes)
        print(f"\nEvery path beside its contract floor ({processes} processes x {pairs} alternating pairs, "
              "median of the pair ratios, client CPU time, canned bytes):\n")
        table, ran = paths_table(pairs, processes, args.quick)
        print(table)
        if not ran:
            raise SystemExit("a benchmark path failed to run")
        return

    import openai

    emulator, base_url = start_emulator()
    configs = [(name, Path(sys.executable)) for name in ("ours-noop", "ours-sdk", "contract-floor")]
    if not args.skip_peers:
        configs += [(name, peer_python(name, openai.__version__)) for name in PEERS]
    results = {}
    try:
        for name, python in configs:
            for transport in ("mock", "emulator"):
                for mode in ("stream", "json"):
                    result = run_overhead(python, name, mode, transport, base_url, args.pairs,
                                          args.processes)
                    results[(name, transport, mode)] = result
                    print(name, transport, mode, json.dumps({k: v for k, v in result.items() if k != "ratios"}),
                          file=sys.stderr)
    finally:
        emulator.terminate()
        emulator.wait()

    instructions = {}
    if not args.skip_callgrind:
        for variant in ("noop", "sdk", "floor"):
            for mode in ("stream", "json"):
                instructions[(variant, mode)] = callgrind_ratio(mode, variant)
    memory = json.loads(subprocess.run([sys.executable, str(HERE / "memory.py")], capture_output=True, text=True,
                                       cwd=HERE, check=True).stdout.strip().splitlines()[-1])

    def cell(result):
        if "error" in result:
            return "failed: " + result["error"][:40]
        low, high = result["quartiles"]
        return f"{result['median_ratio']:.3f}x ({low:.2f}–{high:.2f})"

    print(f"\nopenai {openai.__version__}, {args.processes} processes x {args.pairs} alternating pairs, "
          "median of the pooled pair ratios (client CPU time), "
          "middle half of the pair ratios in brackets\n")
    print("| instrumentation | stream, canned | non-stream, canned | stream, loopback | non-stream, loopback |")
    print("|---|---|---|---|---|")
    for name, _ in configs:
        cells = [cell(results[(name, t, m)]) for t in ("mock", "emulator") for m in ("stream", "json")]
        print(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    leaving = sorted({LABELS[name] for (name, _, _), result in results.items()
                      if result.get("uninstrument_restores_sdk") is False})
    if leaving:
        print("\nuninstrument() left patched SDK methods behind (bare runs used the pristine SDK): "
              + "; ".join(leaving))
    bare = results[("ours-sdk", "mock", "stream")], results[("ours-sdk", "mock", "json")]
    if "bare_ms" in bare[0] and "bare_ms" in bare[1]:
        print(f"\nbare client: {bare[0]['bare_ms']:.1f} ms CPU per 1000-chunk stream, "
              f"{bare[1]['bare_ms'] * 1000:.0f} µs per non-streaming call (canned bytes)")
    if instructions:
        print("\nInstructions (callgrind, canned bytes), instrumented / bare:")
        for (variant, mode), ratio in instructions.items():
            label = LABELS[{"noop": "ours-noop", "sdk": "ours-sdk", "floor": "contract-floor"}[variant]]
            print(f"- {label}, {'stream' if mode == 'stream' else 'non-stream'}: "
                  + (f"{ratio:.3f}x" if ratio else "valgrind not installed"))
    print(f"\nMemory: peak Python allocation reading a {memory['stream_chunks']:,}-chunk stream: "
          f"{memory['peak_bare_bytes'] / 1024:.1f} KiB bare, {memory['peak_instrumented_bytes'] / 1024:.1f} KiB "
          f"instrumented. RSS growth over {memory['requests']:,} requests: "
          f"{memory['rss_growth_per_request_bare_bytes']:.0f} B/request bare, "
          f"{memory['rss_growth_per_request_instrumented_bytes']:.0f} B/request instrumented.")


if __name__ == "__main__":
    main()
