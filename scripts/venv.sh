#!/usr/bin/env bash
# Makes .venv/ and installs this checkout into it (editable) with the extras given, for example
#   bash scripts/venv.sh demo
# only when needed: .venv is missing or broken, or pyproject.toml changed since those extras were
# installed (a stamp in .venv/ holds its hash). Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="$1"
stamp=".venv/.installed-${extras//,/+}"
wanted="$(python3 -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
if .venv/bin/python -c "" 2>/dev/null; then
  if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then exit 0; fi
else
  python3 -m venv --clear .venv   # missing, or its Python is gone
fi
echo "Installing .[$extras] into .venv/ (first run, or pyproject.toml changed since the last install) ..." >&2
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$extras]"
echo "$wanted" > "$stamp"
