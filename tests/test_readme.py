"""Every Python snippet in the README does what it says when pasted: each runs as written, in a
process of its own (against the emulator: NEURALWATT_API_BASE points at it, as the README says it
may), and shows the exact energy the server sent."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
OPENTELEMETRY_INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
ZERO_CODE = "opentelemetry-instrument --traces_exporter console --metrics_exporter console python app.py"


def run(command, emulator, cwd, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "NEURALWATT_"))}
    env.update({"NEURALWATT_API_BASE": emulator.base_url, "NEURALWATT_API_KEY": "test",
                "OTEL_METRIC_EXPORT_INTERVAL": "60000"})
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def joules_sent(emulator):
    return [e.energy["energy_joules"] for e in emulator.exchanges]


def check_quick_start(output, emulator, block):
    assert '"neuralwatt.energy.joules"' in output and '"name": "chat openai/gpt-oss-20b"' in output
    (answer,) = [line for line in output.splitlines() if line.startswith("Energy is measured")]
    assert answer.endswith(".")  # the whole answer, printed after the span the stream's end exported


def check_use(output, emulator, block):
    name, joules, unit = output.splitlines()[0].rsplit(" ", 2)
    assert (name, float(joules), unit) == ("chat openai/gpt-oss-20b", joules_sent(emulator)[-1], "J")
    assert '"name": "neuralwatt.energy"' in output  # the metric, printed at shutdown


def check_responses(output, emulator, block):
    spanned, _, sent = output.splitlines()[-1].partition(" J; the emulator sent ")
    assert float(spanned) == float(sent)


def check_anthropic(output, emulator, block):
    assert output.startswith("Energy is measured")
    assert [e.path for e in emulator.exchanges] == ["/v1/messages"]


def check_measure(output, emulator, block):
    first, second = output.splitlines()
    assert first.startswith(f"{sum(joules_sent(emulator)):.2f} J over 2 requests (0 unmeasured)")
    assert second == "2 calls of summarise() so far"


def check_emulator(output, emulator, block):
    energy = ast.literal_eval(output.strip())
    assert energy["energy_joules"] > 0 and energy["attribution_method"]


def check_zero_code_app(output, emulator, block):
    """`app.py`, run with the README's own `opentelemetry-instrument` command line."""
    assert ZERO_CODE in README.read_text()
    assert f'"neuralwatt.energy.joules": {joules_sent(emulator)[-1]}' in output
    assert '"name": "neuralwatt.energy"' in output


CHECKS = {  # a line that tells the snippet apart -> what running it must show
    "ConsoleSpanExporter()": check_quick_start,
    "# app.py": check_zero_code_app,
    "InMemorySpanExporter()                # in an app": check_use,
    "client.responses.stream(": check_responses,
    "import anthropic": check_anthropic,
    "@measure()": check_measure,
    "print(emulator.exchanges[-1].energy)": check_emulator,
}


def check_for(block):
    (check,) = [check for marker, check in CHECKS.items() if marker in block]
    return check


def test_every_snippet_has_a_check():
    assert len(BLOCKS) == len(CHECKS)
    assert sorted(check_for(b).__name__ for b in BLOCKS) == sorted(c.__name__ for c in CHECKS.values())


@pytest.mark.parametrize("block", BLOCKS, ids=[check_for(b).__name__.removeprefix("check_") for b in BLOCKS])
def test_the_snippet_runs_as_written(block, emulator, tmp_path):
    check = check_for(block)
    if check is check_zero_code_app:
        (tmp_path / "app.py").write_text(block)
        command = [str(OPENTELEMETRY_INSTRUMENT), *ZERO_CODE.split()[1:-2], sys.executable, "app.py"]
    else:
        command = [sys.executable, "-c", block]
    check(run(command, emulator, tmp_path), emulator, block)


def test_every_link_works_where_the_readme_is_the_packages_description():
    """PyPI shows the README with no checkout around it: a link to a file of the repository would
    break there, so files are named in the text and only absolute links are links."""
    targets = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    assert targets and [t for t in targets if not t.startswith(("https://", "http://", "#"))] == []


def test_the_clone_line_cds_into_the_folder_it_clones_into():
    (clone, cd) = re.search(r"^git clone (.+)\ncd (.+)$", README.read_text(), re.M).groups()
    assert clone.split()[-1] == cd == "opentelemetry-instrumentation-neuralwatt"


def test_the_llm_sessions_run_as_written(tmp_path):
    """The `llm` section's sessions, command by command in one shell, against the emulator started
    as the README starts it (on a free port instead of 8123): the same output, line for line
    (the energy report's numbers vary from run to run: its rows are compared by model and count)."""
    text = README.read_text()
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", text[text.index("## With the `llm` CLI"):], re.M | re.S)
    sessions = [block for language, block in blocks if not language and block.startswith("$ ")][:3]
    steps = [(step.splitlines()[0], step.splitlines()[1:]) for block in sessions for step in block.split("$ ")[1:]]
    start, banner = steps.pop(0)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "NEURALWATT_"))}
    env.update(LLM_USER_PATH=str(tmp_path), LLM_LOAD_PLUGINS="opentelemetry-instrumentation-neuralwatt",
               PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    assert start == ".venv/bin/python -m opentelemetry_instrumentation_neuralwatt.emulator --quiet"
    emulator = subprocess.Popen([sys.executable, *start.split()[1:], "--port", str(port)], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert [emulator.stdout.readline().rstrip("\n")] == [line.replace("8123", str(port)) for line in banner]
        assert steps[0][0].startswith("export NEURALWATT_API_BASE=http://127.0.0.1:8123/v1 NEURALWATT_API_KEY=")
        marker = "=== next command ==="
        script = "".join(f"echo '{marker}'\n{command.replace('8123', str(port))} 2>&1\n" for command, _ in steps)
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    finally:
        emulator.terminate()
        emulator.communicate(timeout=30)
    outputs = [chunk.splitlines() for chunk in done.stdout.split(marker + "\n")[1:]]
    for (command, expected), output in zip(steps, outputs, strict=True):
        expected = [line.replace("8123", str(port)) for line in expected]
        if command == "llm neuralwatt energy":
            assert output[:2] == expected[:2] and output[-2] == expected[-2]
            assert [row.split()[:2] for row in output[2:]] == [row.split()[:2] for row in expected[2:]]
        else:
            assert output == expected, command
