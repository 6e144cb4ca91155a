#!/usr/bin/env bash
# The demo: instruments the openai SDK and makes four calls, printing each request's energy.
# Without NEURALWATT_API_KEY it runs against the built-in emulator, offline. It installs into
# .venv/ the first time, and again only when pyproject.toml changes (scripts/venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh demo
exec .venv/bin/python examples/quickstart.py "$@"
