"""Every Python snippet and command in the README does what it says when pasted, where a reader
who followed the README would paste it: in a virtual environment holding only what the README
says to install before it (see environments.py), in a process of its own, against the emulator
(NEURALWATT_API_BASE points at it, as the README says it may), showing the exact energy the
server sent."""

import ast
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import free_port
from environments import environment, shared_base

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
ZERO_CODE = ("opentelemetry-instrument --traces_exporter console --metrics_exporter console --logs_exporter none "
             "python app.py")
# An install command: inline (`pip install ...`) or a line of a bash block.
_INSTALL = re.compile(r"`(pip install [^`]+)`|^(pip install .+|pipx install .+|llm install .+)$", re.M)


def install_line(position: int) -> str:
    """The last `pip install` the README gives before `position`, in the same section."""
    section = TEXT.rindex("\n## ", 0, position)
    found = [a or b for a, b in _INSTALL.findall(TEXT[section:position])]
    assert found, f"the README says nothing to install before the snippet at character {position}"
    return found[-1].split("  #")[0].strip()


@pytest.fixture(scope="session")
def readme_environment(tmp_path_factory):
    """`bin` of an environment made from README install lines (made once per session)."""
    base = shared_base(tmp_path_factory)
    return lambda *lines: environment(base, *lines)

def clean_env(bin_dir, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "NEURALWATT_", "VIRTUAL_ENV", "PYTHONPATH", "LLM_"))}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env.update(extra)
    return env


def run(command, emulator, cwd, bin_dir, timeout=120):
    env = clean_env(bin_dir, NEURALWATT_API_BASE=emulator.base_url, NEURALWATT_API_KEY="test",
                    OTEL_METRIC_EXPORT_INTERVAL="60000")
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
    assert f'"neuralwatt.energy.joules": {joules_sent(emulator)[-1]}' in output
    assert '"name": "neuralwatt.energy"' in output
    assert output.splitlines()[0] == "Energy is measured on the GPU for every request and attributed to."


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


def zero_code_commands():
    """The bash block after `app.py`: start the emulator, export its address, run the app."""
    after = TEXT[TEXT.index("# app.py"):]
    (commands,) = re.findall(r"```bash\n(.*?)```", after, re.S)[:1]
    start, export, command = commands.strip().splitlines()
    assert command == ZERO_CODE
    return start, export, command, TEXT.index(commands)


@pytest.mark.parametrize("block", BLOCKS, ids=[check_for(b).__name__.removeprefix("check_") for b in BLOCKS])
def test_the_snippet_runs_as_written_where_the_readme_says_to_install(block, emulator, tmp_path, readme_environment):
    check = check_for(block)
    if check is check_zero_code_app:  # written to app.py, run by the README's command line after it
        start, export, command, position = zero_code_commands()
        assert start.startswith("python -m opentelemetry_instrumentation_neuralwatt.emulator --port 8123 --quiet &")
        assert export == "export NEURALWATT_API_BASE=http://127.0.0.1:8123/v1 NEURALWATT_API_KEY=test"
        (tmp_path / "app.py").write_text(block)
        bin_dir = readme_environment(install_line(position))
        output = run(["bash", "-c", command], emulator, tmp_path, bin_dir)  # the emulator here: any port
    else:
        bin_dir = readme_environment(install_line(TEXT.index(block)))
        output = run([str(bin_dir / "python"), "-c", block], emulator, tmp_path, bin_dir)
    check(output, emulator, block)


def test_the_emulator_starts_as_the_zero_code_lines_start_it(readme_environment):
    """The first line of the zero-code commands, in their environment: it prints its address."""
    start, _, _, position = zero_code_commands()
    port = free_port()
    words = shlex.split(start.split("&")[0].replace("8123", str(port)))
    bin_dir = readme_environment(install_line(position))
    emulator = subprocess.Popen([str(bin_dir / words[0]), *words[1:]], stdout=subprocess.PIPE, text=True,
                                env=clean_env(bin_dir))
    try:
        assert emulator.stdout.readline().startswith(f"Neuralwatt emulator on http://127.0.0.1:{port}/v1")
    finally:
        emulator.terminate()
        emulator.communicate(timeout=30)


def test_every_link_works_where_the_readme_is_the_packages_description():
    """PyPI shows the README with no checkout around it: a link to a file of the repository would
    break there, so files are named in the text and only absolute links are links."""
    targets = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    assert targets and [t for t in targets if not t.startswith(("https://", "http://", "#"))] == []


def test_the_clone_line_cds_into_the_folder_it_clones_into():
    (clone, cd) = re.search(r"^git clone (.+)\ncd (.+)$", README.read_text(), re.M).groups()
    assert clone.split()[-1] == cd == "opentelemetry-instrumentation-neuralwatt"


def llm_environment(readme_environment):
    """llm as the README installs it: `pip install llm` (its alternative to pipx), then the plugin
    with `llm install -e path/to/this/checkout`."""
    section = TEXT[TEXT.index("## With the `llm` CLI"):]
    assert "(or: pip install llm)" in section
    (plugin,) = [line for line in re.findall(r"^(llm install .+)$", section, re.M)]
    return readme_environment("pip install llm", plugin.split("  #")[0].strip())


def test_the_llm_sessions_run_as_written(tmp_path, readme_environment):
    """The `llm` section's sessions, command by command in one shell, against the emulator started
    as the README starts it (on a free port instead of 8123), where the README installs llm and the
    plugin: the same output, line for line (the energy report's numbers vary from run to run: its
    rows are compared by model and count)."""
    bin_dir = llm_environment(readme_environment)
    text = README.read_text()
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", text[text.index("## With the `llm` CLI"):], re.M | re.S)
    sessions = [block for language, block in blocks if not language and block.startswith("$ ")][:3]
    steps = [(step.splitlines()[0], step.splitlines()[1:]) for block in sessions for step in block.split("$ ")[1:]]
    start, banner = steps.pop(0)
    port = free_port()
    env = clean_env(bin_dir, LLM_USER_PATH=str(tmp_path))
    # "a Python that has this package": llm's own, where `llm install` put it
    assert start == ".venv/bin/python -m opentelemetry_instrumentation_neuralwatt.emulator --quiet"
    emulator = subprocess.Popen([str(bin_dir / "python"), *start.split()[1:], "--port", str(port)],
                                stdout=subprocess.PIPE, text=True, env=env)
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


def test_your_own_app_exports_over_otlp_as_the_dashboard_section_says(emulator, tmp_path, readme_environment):
    """"Your own app, with no code change": its install line (plus the app's own `openai`), and its
    command, exporting to an OTLP receiver where the stack's collector would listen."""
    from otlp_receiver import OtlpReceiver

    section = TEXT[TEXT.index("Your own app, with no code change"):]
    (commands,) = re.findall(r"```bash\n(.*?)```", section, re.S)[:1]
    install, command = commands.replace("\\\n", "").strip().splitlines()
    assert command.endswith("opentelemetry-instrument python app.py")
    bin_dir = readme_environment(install.split("  #")[0].strip(), "pip install openai")  # the app's own requirement
    (tmp_path / "app.py").write_text(BLOCKS[[check_for(b) for b in BLOCKS].index(check_zero_code_app)])
    with OtlpReceiver() as receiver:
        command = command.replace("http://localhost:4318", f"http://127.0.0.1:{receiver.http_port}")
        output = run(["bash", "-c", command], emulator, tmp_path, bin_dir)
        spans = [s for s in receiver.spans if "neuralwatt.energy.joules" in s["attributes"]]
    assert output.startswith("Energy is measured")
    (span,) = spans
    assert span["attributes"]["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"]
