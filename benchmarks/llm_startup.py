"""What the `llm` plugin costs llm's start-up: `llm --help`, whole process, with and without it.

    .venv/bin/python benchmarks/llm_startup.py [--pairs 41]

Both arms run the same `llm` of this virtual environment with LLM_LOAD_PLUGINS set, so both do
the same plugin lookup: "with" names this package (its plugin is loaded), "without" names `llm`
itself (a distribution with no plugin in it). Runs alternate, with / without, and the ratio is
taken pair by pair (the median of the pair ratios), so drift in the machine's speed cancels.
Wall time and CPU time (user + system of the child, from the kernel) are both reported; the
target is a ratio of at most 1.05.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.05
ARMS = {"with": "opentelemetry-instrumentation-neuralwatt", "without": "llm"}


def llm_executable() -> str:
    return str(Path(sys.executable).with_name("llm"))


def run_once(plugins: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one `llm --help`."""
    # Bytecode is cached as in any normal install (pip compiles a wheel's modules when installing).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["LLM_LOAD_PLUGINS"] = plugins
    started = time.perf_counter()
    child = subprocess.Popen([llm_executable(), "--help"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"llm --help exited {child.returncode} with LLM_LOAD_PLUGINS={plugins}")
    return wall, usage.ru_utime + usage.ru_stime, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=41)
    args = parser.parse_args()

    run_once(ARMS["with"]), run_once(ARMS["without"])  # warm the file cache and .pyc files
    runs: dict = {arm: [] for arm in ARMS}
    lists_command: dict = {}
    for _ in range(args.pairs):
        for arm, plugins in ARMS.items():
            wall, cpu, output = run_once(plugins)
            runs[arm].append((wall, cpu))
            lists_command[arm] = "neuralwatt" in output.split("Commands:")[-1]
    result = {
        "benchmark": "llm --help",
        "pairs": args.pairs,
        "plugin_command_listed": lists_command,  # proves which arm had the plugin
        "median_wall_s": {arm: statistics.median(w for w, _ in r) for arm, r in runs.items()},
        "median_cpu_s": {arm: statistics.median(c for _, c in r) for arm, r in runs.items()},
        "ratio_wall": statistics.median(a[0] / b[0] for a, b in zip(runs["with"], runs["without"], strict=True)),
        "ratio_cpu": statistics.median(a[1] / b[1] for a, b in zip(runs["with"], runs["without"], strict=True)),
        "target": TARGET,
    }
    verdict = "within" if max(result["ratio_wall"], result["ratio_cpu"]) <= TARGET else "ABOVE"
    print(f"llm --help, with the plugin / without, median of {args.pairs} pairs: "
          f"wall {result['ratio_wall']:.3f}, CPU {result['ratio_cpu']:.3f} "
          f"({result['median_wall_s']['with'] * 1000:.0f} vs {result['median_wall_s']['without'] * 1000:.0f} ms wall); "
          f"{verdict} the {TARGET} target")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
