#!/usr/bin/env bash
# The demo: instruments the openai SDK and makes four calls, printing each request's energy.
# Without NEURALWATT_API_KEY it runs against the built-in emulator, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[demo]"
exec .venv/bin/python examples/quickstart.py "$@"
