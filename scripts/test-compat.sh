#!/usr/bin/env bash
# The instrumentor's tests against another openai release, in a virtual environment of its own.
#   bash scripts/test-compat.sh "openai==1.40.0" "httpx<0.28"     # the oldest supported release
#   bash scripts/test-compat.sh "openai>=2,<3"                     # the latest 2.x
# Left out: the llm plugin's tests (tests/test_llm_*.py; llm 0.36 needs openai 3) and the frameworks'
# (test_frameworks.py; the [frameworks-test] extra is installed by scripts/test.sh only), and the README's
# snippets (test_readme.py: they are written for the SDK releases `.[openai]` installs).
set -euo pipefail
cd "$(dirname "$0")/.."
slug=$(printf '%s' "$1" | tr -c 'A-Za-z0-9.' '-')
venv=".venv-compat-$slug"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[test]" "$@"
echo "== tests against $("$venv/bin/python" -c 'import openai; print("openai", openai.__version__)')"
"$venv/bin/python" -m pytest -n auto -p no:cacheprovider --ignore-glob "tests/test_llm_*.py" --ignore tests/test_frameworks.py --ignore tests/test_dspy.py --ignore tests/test_readme.py -q
