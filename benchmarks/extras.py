"""The figures printed after the overhead tables (benchmarks/run.py): memory, and on request the
instructions callgrind counts (openai chat, canned bytes; it does not drift, but takes long).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = {"noop": "ours, no-op providers", "sdk": "ours, real SDK", "floor": "contract floor"}


@functools.cache
def instructions(which: str, mode: str, runs: int) -> int:
    """Instructions callgrind counts for `runs` runs of one workload (the bare ones are shared)."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         str(HERE / "callgrind_target.py"), which, mode, str(runs)],
        capture_output=True, text=True, cwd=HERE, check=True).stderr
    return int(next(line for line in out.splitlines() if "Collected" in line).split()[-1])


def callgrind_ratio(mode: str, variant: str) -> float:
    """Instructions per request, instrumented / bare, from the difference of 2 and 6 runs."""
    bare = instructions("bare", mode, 6) - instructions("bare", mode, 2)
    ours = instructions(variant, mode, 6) - instructions(variant, mode, 2)
    return ours / bare


def print_instructions() -> None:
    if not shutil.which("valgrind"):
        print("\nInstructions: valgrind is not installed")
        return
    print("\nInstructions (callgrind, openai chat, canned bytes), instrumented / bare:")
    for variant, title in VARIANTS.items():
        for mode in ("stream", "whole"):
            print(f"- {title}, {mode}: {callgrind_ratio(mode, variant):.3f}x")


def print_memory() -> None:
    memory = json.loads(subprocess.run([sys.executable, str(HERE / "memory.py")], capture_output=True, text=True,
                                       cwd=HERE, check=True).stdout.strip().splitlines()[-1])
    print(f"\nMemory: peak Python allocation reading a {memory['stream_chunks']:,}-chunk stream: "
          f"{memory['peak_bare_bytes'] / 1024:.1f} KiB bare, {memory['peak_instrumented_bytes'] / 1024:.1f} KiB "
          f"instrumented. RSS growth over {memory['requests']:,} requests: "
          f"{memory['rss_growth_per_request_bare_bytes']:.0f} B/request bare, "
          f"{memory['rss_growth_per_request_instrumented_bytes']:.0f} B/request instrumented.")


def main(callgrind: bool) -> None:
    print_memory()
    if callgrind:
        print_instructions()
