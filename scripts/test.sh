#!/usr/bin/env bash
# The whole test suite, in a virtual environment this script creates and fills itself.
# Extra arguments go to pytest (for example: bash scripts/test.sh -k streaming).
set -euo pipefail
cd "$(dirname "$0")/.."
# The dashboard tests run a real Prometheus (Debian's package: apt-get as root, else unpacked into
# a user cache). When that cannot be done they are skipped, and this says so in one line; with
# CI=true a missing Prometheus is a failure.
if prometheus_bin="$(bash scripts/install-prometheus.sh)"; then
  export PATH="$PATH:$prometheus_bin"   # after, not before: it may be /usr/bin, and python3 must stay the one PATH gives
else
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "test.sh: Prometheus/promtool could not be installed: the dashboard's two Prometheus tests will be skipped" >&2
fi
# Installed into .venv/ on a clean checkout (as in CI), then again only when pyproject.toml changes.
bash scripts/venv.sh test,llm-test,frameworks-test
exec .venv/bin/python -m pytest -n auto -rs "$@"   # on every core (pytest-xdist); -rs: a skipped test says why
