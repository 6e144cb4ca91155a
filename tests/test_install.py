"""The install path a reader follows: the sdist and wheel built from this checkout pass metadata
validation, and the wheel, installed into a clean virtual environment outside the checkout,
records a stream's energy from the emulator it ships."""

import email
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from opentelemetry_instrumentation_neuralwatt.package import _instruments, _instruments_any
from opentelemetry_instrumentation_neuralwatt.version import __version__

ROOT = Path(__file__).resolve().parent.parent


def run(*command, **options):
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, **options)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, ROOT)
    return out


@pytest.fixture(scope="module")
def wheel(dist):
    (found,) = dist.glob("*.whl")
    return found


def wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


def test_the_sdist_and_the_wheel_pass_twine_check(dist):
    assert len(list(dist.iterdir())) == 2
    output = run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert output.count("PASSED") == 2


def test_the_license_ships_in_the_sdist_and_the_wheel(dist, wheel):
    import tarfile

    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0" in license_text
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        (member,) = [m for m in archive.getmembers() if m.name.endswith("/LICENSE")]
        assert archive.extractfile(member).read().decode() == license_text
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(name).decode() == license_text
    metadata = wheel_metadata(wheel)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    from trove_classifiers import classifiers  # the list PyPI accepts

    assert "Framework :: OpenTelemetry :: Instrumentations" in metadata.get_all("Classifier")
    assert set(metadata.get_all("Classifier")) <= classifiers
    assert any(url.startswith("GenAI semantic conventions, https://") for url in metadata.get_all("Project-URL"))


def test_the_extras_are_named_for_what_they_bring(wheel):
    metadata = wheel_metadata(wheel)
    requires: dict = {}
    for line in metadata.get_all("Requires-Dist"):
        requirement, _, marker = line.partition(";")
        extra = marker.split("==")[-1].strip().strip("'\"") if "extra" in marker else None
        requires.setdefault(extra, set()).add(requirement.strip().replace(" ", ""))

    assert set(metadata.get_all("Provides-Extra")) >= {"openai", "anthropic", "llm", "instruments-any", "demo"}
    assert requires["openai"] == {"openai>=1.40.0"}
    assert requires["anthropic"] == {"anthropic>=2.14.0"}
    assert requires["llm"] == {"llm>=0.26"}
    # What opentelemetry-instrument reads: either SDK is enough, as package.py declares. Anything
    # under an `instruments` extra would be required (all of it), so there is none.
    assert requires["instruments-any"] == {r.replace(" ", "") for r in _instruments_any}
    assert _instruments == () and "instruments" not in requires


@pytest.fixture(scope="module")
def clean_venv(wheel, tmp_path_factory):
    """A new virtual environment, outside the checkout, with the wheel and the OpenTelemetry SDK."""
    venv = tmp_path_factory.mktemp("clean") / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", f"{wheel}[openai]", "opentelemetry-sdk")
    return python


RECORD_A_STREAM = """
import json
import openai
from importlib.metadata import distribution
from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import opentelemetry_instrumentation_neuralwatt as package
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

exporter, provider = InMemorySpanExporter(), TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with NeuralwattEmulator(seed=3) as emulator:
    NeuralwattInstrumentor().instrument(tracer_provider=provider, hosts=[f"127.0.0.1:{emulator.port}"])
    client = openai.OpenAI(base_url=emulator.base_url, api_key="k")
    stream = client.chat.completions.create(model="openai/gpt-oss-20b", stream=True,
                                            messages=[{"role": "user", "content": "hi"}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    (span,) = exporter.get_finished_spans()
    print(json.dumps({
        "package": package.__file__, "version": package.__version__, "text": text,
        "recorded": span.attributes["neuralwatt.energy.joules"],
        "sent": emulator.exchanges[-1].energy["energy_joules"],
        "conflict": str(get_dist_dependency_conflicts(distribution("opentelemetry-instrumentation-neuralwatt"))),
    }))
"""


def test_the_installed_wheel_records_a_streams_energy(clean_venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    found = json.loads(run(clean_venv, "-c", RECORD_A_STREAM, cwd=tmp_path, env=env).splitlines()[-1])

    assert Path(found["package"]).is_relative_to(clean_venv.parent.parent)  # the wheel, not the checkout
    assert found["version"] == __version__
    assert found["text"]
    assert found["recorded"] == found["sent"] > 0
    assert found["conflict"] == "None"  # opentelemetry-instrument would load it with openai alone
