"""A bad setting never switches the instrumentation off: every environment variable with a bad
value is one WARNING per process naming the variable, the value and what is used instead, and the
calls are recorded as ever; booleans read as the OpenTelemetry SDK reads them; a keyword argument
`instrument()` does not know is named, with the ones it knows."""

import logging
import pydoc

import pytest
from conftest import MESSAGES, MODEL
from test_zero_code import energy_spans, receiver, run_app  # noqa: F401 - the fixture is used

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.sdk import settings


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(settings, "_warned", set())


@pytest.fixture
def instrumented(instrument_afresh, caplog):
    """instrument(**options) with fresh providers; our warnings are caught."""
    caplog.set_level(logging.WARNING, logger="opentelemetry_instrumentation_neuralwatt")
    return instrument_afresh


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def assert_recorded(recorded, client, emulator):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = recorded.spans()[-1]
    assert span.attributes["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"]


@pytest.mark.parametrize("variable, value, instead", [
    ("OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP", "1", "true or false, so false is used"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP", "yes", "true or false, so false is used"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS", "junk", "true or false, so false is used"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_MAX_VALUES", "0", "a whole number of at least 1, so 100 is used"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_MAX_VALUES", "ten", "a whole number of at least 1, so 100 is used"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS", "tenant id,enduser.id",
     "'tenant id' cannot be baggage keys and are left out"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_HOSTS", "foo:abc",
     "'foo:abc' not a host, host:port or URL, so left out (the other entries count)"),
    ("NEURALWATT_API_BASE", "http://exa mple.com/v1", "not a URL, so no host is taken from it"),
    ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe",
     "not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT, so message content is not captured"),
])
def test_a_bad_value_is_one_warning_and_everything_else_works(instrumented, client, emulator, caplog, monkeypatch,
                                                              variable, value, instead):
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS",
                       value if variable.endswith("BAGGAGE_KEYS") else "tenant.id")
    for _ in range(2):  # twice in one process: still one warning
        recorded = instrumented()
        assert_recorded(recorded, client, emulator)
        NeuralwattInstrumentor().uninstrument()
    assert warnings(caplog) == [f"neuralwatt: {variable}={value!r} is not valid: {instead}"]


def test_booleans_read_true_and_false_in_any_case(instrumented, client, emulator, caplog, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP", "TRUE")
    recorded = instrumented()
    with recorded.tracer_provider.get_tracer("app").start_as_current_span("request"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    (request,) = [s for s in recorded.spans() if s.name == "request"]
    assert request.attributes["neuralwatt.total.requests"] == 1
    assert warnings(caplog) == []


def test_unknown_keyword_arguments_are_named_with_the_known_ones(instrumented, client, emulator, caplog):
    recorded = instrumented(rolup=True, host=["example.com"])
    assert_recorded(recorded, client, emulator)
    assert warnings(caplog) == [
        "neuralwatt: instrument() ignores 'host', 'rolup': its options are tracer_provider, meter_provider, hosts, "
        "hide_mcr_status, rollup, baggage_keys, baggage_max_values"]


def test_help_shows_the_options():
    text = pydoc.render_doc(NeuralwattInstrumentor.instrument, renderer=pydoc.plaintext)
    for option in ("tracer_provider", "meter_provider", "hosts", "hide_mcr_status", "rollup", "baggage_keys",
                   "baggage_max_values", "OTEL_INSTRUMENTATION_NEURALWATT_HOSTS"):
        assert option in text


def test_under_opentelemetry_instrument_a_bad_value_keeps_every_span(emulator, receiver):  # noqa: F811
    response_ids = run_app(emulator, receiver, "http/protobuf", OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_MAX_VALUES="0",
                           OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS="tenant.id",
                           OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP="yes")
    assert sorted(s["attributes"]["gen_ai.response.id"] for s in energy_spans(receiver)) == sorted(response_ids)
