#!/usr/bin/env bash
# The whole test suite, in a virtual environment this script creates and fills itself.
# Extra arguments go to pytest (for example: bash scripts/test.sh -k streaming).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-prometheus.sh   # the dashboard tests run a real Prometheus
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,llm-test]"
exec .venv/bin/python -m pytest "$@"
