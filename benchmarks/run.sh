#!/usr/bin/env bash
# The overhead benchmark, from a fresh checkout: the project's virtual environment, one virtual
# environment per peer instrumentation (benchmarks/.venvs/), valgrind for instruction counts;
# then what the llm plugin costs `llm --help` (benchmarks/llm_startup.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[demo,llm,anthropic]"
.venv/bin/python benchmarks/run.py --paths-only     # every path (chat, Responses, Messages) beside its contract floor
.venv/bin/python benchmarks/run.py "$@"             # openai chat against the peers, instructions, memory
.venv/bin/python benchmarks/scaling.py               # n and 4n on large and hostile inputs
(cd benchmarks && ../.venv/bin/python options_cost.py)   # roll-up, tenants and measure(): off and on
exec .venv/bin/python benchmarks/llm_startup.py
