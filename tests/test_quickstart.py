"""The README's first command: the demo prints each request's energy exactly as the server sent it."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart.py"


def test_demo_prints_the_servers_energy_per_request_and_the_totals():
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("NEURALWATT_", "OTEL_"))}
    environment["NEURALWATT_EMULATOR_SEED"] = "21"
    output = subprocess.run([sys.executable, str(QUICKSTART)], env=environment, capture_output=True,
                            text=True, timeout=120, check=True).stdout

    rows = re.findall(r"^(sync|sync stream|async|async stream)\s+(\S+)\s+(\d+)/(\d+)\s+([\d.]+)\s+([\d.]+)", output, re.M)
    assert [row[0] for row in rows] == ["sync", "sync stream", "async", "async stream"]

    sys.path.insert(0, str(QUICKSTART.parent))
    try:
        import quickstart
    finally:
        sys.path.pop(0)
    with NeuralwattEmulator(seed=21) as emulator:
        quickstart.run_calls(emulator.base_url, "k", quickstart.DEFAULT_MODEL)
    sent = emulator.exchanges

    assert [float(row[4]) for row in rows] == [round(e.energy["energy_joules"], 4) for e in sent]
    assert [int(row[3]) for row in rows] == [e.usage["completion_tokens"] for e in sent]
    total = sum(e.energy["energy_joules"] for e in sent)
    assert f"4 measured requests, {total:.4f} J" in output
    assert f"= {total / 3600:.6f} Wh" in output
    assert "No NEURALWATT_API_KEY: using the built-in emulator" in output
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318" in output  # where to look next


def test_demo_exports_over_otlp_when_an_endpoint_is_set():
    from otlp_receiver import OtlpReceiver

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("NEURALWATT_", "OTEL_"))}
    with OtlpReceiver() as receiver:
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.http_port}"
        output = subprocess.run([sys.executable, str(QUICKSTART)], env=environment, capture_output=True,
                                text=True, timeout=120, check=True).stdout

    assert f"Exporting spans and metrics over OTLP to http://127.0.0.1:{receiver.http_port}" in output
    printed = [float(j) for j in re.findall(r"^(?:sync|async)[a-z ]*\s+\S+\s+\d+/\d+\s+([\d.]+)", output, re.M)]
    exported = [s["attributes"]["neuralwatt.energy.joules"] for s in receiver.spans]
    assert [round(j, 4) for j in exported] == printed
    # Each request's trace id is printed, as the exporter sent it, with where to find it.
    printed_ids = re.findall(r"^  (?:sync|async)[a-z ]*\s+([0-9a-f]{32})$", output, re.M)
    assert printed_ids == [s["trace_id"] for s in receiver.spans]
    assert "http://localhost:16686/trace/" in output
    (energy,) = receiver.latest_points("neuralwatt.energy")
    assert energy["count"] == 4 and round(energy["sum"], 4) == round(sum(exported), 4)


def test_demo_says_plainly_when_nothing_listens_at_the_otlp_endpoint():
    from conftest import free_port

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("NEURALWATT_", "OTEL_"))}
    endpoint = f"http://127.0.0.1:{free_port()}"
    environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    done = subprocess.run([sys.executable, str(QUICKSTART)], env=environment, capture_output=True,
                          text=True, timeout=120, check=True)

    assert f"Nothing listens at {endpoint}: not exporting over OTLP." in done.stdout
    assert "Sent over OTLP" not in done.stdout and "Exporting spans and metrics" not in done.stdout
    assert "docker compose up -d" in done.stdout
    assert "Connection refused" not in done.stderr and "Traceback" not in done.stderr


def demo_against(base_url, **popen):
    """The demo pointed at `base_url` with a key (what a user with a Neuralwatt account runs)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("NEURALWATT_", "OTEL_"))}
    environment.update(NEURALWATT_API_KEY="nw-test-key", NEURALWATT_API_BASE=base_url)
    return subprocess.Popen([sys.executable, str(QUICKSTART)], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def test_demo_says_in_one_line_when_nothing_listens_at_the_api_base():
    from conftest import free_port

    base_url = f"http://127.0.0.1:{free_port()}/v1"
    demo = demo_against(base_url)
    out, err = demo.communicate(timeout=120)

    assert demo.returncode == 1
    assert err.splitlines() == [
        f"Could not reach {base_url} ([Errno 111] Connection refused). Is NEURALWATT_API_BASE right? "
        "(Without NEURALWATT_API_KEY the demo runs against its built-in emulator.)"]
    assert out.splitlines() == [f"Calling Neuralwatt at {base_url} with model openai/gpt-oss-20b", ""]


def test_demo_says_did_you_mean_v1_for_a_base_url_without_it(emulator):
    base_url = emulator.base_url.removesuffix("/v1")
    demo = demo_against(base_url)
    _, err = demo.communicate(timeout=120)

    assert demo.returncode == 1
    assert err.splitlines() == [f"{base_url} answered HTTP 404. Did you mean NEURALWATT_API_BASE={base_url}/v1?"]
    assert [e.path for e in emulator.exchanges] == ["/chat/completions"]


def test_ctrl_c_during_a_stream_prints_the_finished_calls_and_exits_130_without_a_traceback():
    # 1 s between chunks: the demo's second call, a stream, is still running when Ctrl-C comes.
    with NeuralwattEmulator(seed=5, chunk_delay=1.0) as emulator:
        # SIGINT as a terminal sends it (a process started in the background may inherit it ignored).
        demo = demo_against(emulator.base_url, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        while len(emulator.exchanges) < 2 and demo.poll() is None:  # the stream's request has arrived
            time.sleep(0.05)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=120)

    assert demo.returncode == 130
    assert err == ""
    first = emulator.exchanges[0]  # the one call that had finished: a whole answer
    energy, usage = first.energy, first.usage
    lines = out.splitlines()
    assert lines[:5] == [f"Calling Neuralwatt at {emulator.base_url} with model openai/gpt-oss-20b", "", "",
                         "Interrupted: 1 of the 4 calls had finished.", ""]
    assert [line.split() for line in lines[5:]] == [
        ["call", "model", "tokens", "in/out", "energy", "J", "power", "W", "CO2e", "g", "cost", "USD"],
        ["sync", "openai/gpt-oss-20b", f"{usage['prompt_tokens']}/{usage['completion_tokens']}",
         f"{energy['energy_joules']:.4f}", f"{energy['avg_power_watts']:.1f}", f"{energy['carbon_g_co2eq']:.3g}",
         f"{first.cost['request_cost_usd']:.3g}"]]


INSTALLING = "Installing .[demo] into .venv/ (first run, or pyproject.toml changed since the last install) ..."


def test_the_demo_script_installs_only_when_venv_is_missing_or_pyproject_changed(tmp_path):
    """`bash scripts/demo.sh` in a copy of the checkout: the first run installs, the next does not,
    a changed pyproject.toml installs again."""
    import shutil

    root, checkout = QUICKSTART.parent.parent, tmp_path / "checkout"
    shutil.copytree(root / "src", checkout / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "examples/quickstart.py", "scripts/demo.sh",
                 "scripts/venv.sh"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, checkout / name)
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("NEURALWATT_", "OTEL_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}

    def demo():
        done = subprocess.run(["bash", "scripts/demo.sh"], cwd=checkout, env=environment, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        assert "No NEURALWATT_API_KEY: using the built-in emulator" in done.stdout
        assert "4 measured requests" in done.stdout
        return done.stderr

    assert demo().splitlines()[0] == INSTALLING  # (pip may warn below it)
    assert demo() == ""
    with (checkout / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    assert demo().splitlines()[0] == INSTALLING
    assert demo() == ""
