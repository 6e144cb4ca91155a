"""The README's first command: the demo prints each request's energy exactly as the server sent it."""

import os
import re
import subprocess
import sys
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
