#!/usr/bin/env bash
# The tests against the lowest versions pyproject.toml allows: every floor of the package's own
# dependencies, of the SDKs it instruments (instruments-any) and of the OpenTelemetry SDK is
# installed exactly (">=" read as "=="), in a virtual environment of its own. Test tools are left
# at what resolves beside them. openai 1.40 needs httpx < 0.28 (its own, unstated, limit).
# Left out: the llm plugin's tests (llm 0.36 needs openai 3) and those beside the official GenAI
# instrumentations and OpenLLMetry (they need opentelemetry-api 1.43, above our floor).
set -euo pipefail
cd "$(dirname "$0")/.."
floors=$(python3 - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
floors = project["dependencies"] + extras["instruments-any"] + [r for r in extras["test"] if r.startswith("opentelemetry-sdk")]
tools = [r for r in extras["test"] if not r.startswith(("opentelemetry-instrumentation-genai-", "opentelemetry-instrumentation-openai")) and r not in floors]
print(" ".join([r.replace(" ", "").replace(">=", "==") for r in floors] + [r.replace(" ", "") for r in tools]))
PY
)
venv=.venv-lowest
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet -e . $floors "httpx<0.28"
echo "== tests against the lowest versions allowed"
"$venv/bin/python" -m pip list 2>/dev/null | grep -Ei "^(openai|anthropic|wrapt|opentelemetry-(api|sdk|instrumentation|semantic-conventions)) "
"$venv/bin/python" -m pytest -n auto -p no:cacheprovider --ignore-glob "tests/test_llm_*.py" -q \
  --ignore tests/test_beside_genai.py --ignore tests/test_frameworks.py --ignore tests/test_dspy.py --ignore tests/test_readme.py
