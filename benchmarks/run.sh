#!/usr/bin/env bash
# The benchmarks, from a fresh checkout: the project's virtual environment, then the overhead
# comparison (benchmarks/run.py: every path, ours against the bare client, the contract floor and
# the peer instrumentations, each peer in its own virtual environment under benchmarks/.venvs/,
# run twice; about 15 minutes on 2 cores; extra arguments go to it, e.g. --update-readme), the
# scaling and options benchmarks, and what the llm plugin costs `llm --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then   # for run.py --callgrind
  apt-get update -qq && apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[demo,llm,anthropic]"
.venv/bin/python benchmarks/run.py "$@"              # the overhead tables (README, section Overhead)
.venv/bin/python benchmarks/scaling.py               # n and 4n on large and hostile inputs
(cd benchmarks && ../.venv/bin/python options_cost.py)   # roll-up, tenants and measure(): off and on
exec .venv/bin/python benchmarks/llm_startup.py
