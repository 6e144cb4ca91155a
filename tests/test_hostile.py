"""No silent loss, no broken call: mistaken configuration is refused out loud, an unlisted
Neuralwatt host is named in a warning, hostile responses keep their valid energy, secrets never
reach a span, and a tracer that raises costs the user's call nothing."""

import copy
import logging
import pickle

import openai
import pytest
from conftest import (
    MESSAGES,
    MODEL,
    Telemetry,
    assert_valid_attributes,
    energy_attributes,
    faults,
    helpers,
    neuralwatt_attributes,
)
from opentelemetry.trace import StatusCode

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.sdk.endpoints import Endpoints


def test_hosts_given_as_one_string_is_one_host():
    endpoints = Endpoints("my.host:8443")
    assert endpoints.matches("my.host", 8443) and not endpoints.matches("m", 8443)


@pytest.mark.parametrize("hosts, error, named", [
    (42, TypeError, "int"), ([b"my.host"], TypeError, "b'my.host'"), (["ok.host", "bad host:xx"], ValueError, "bad host:xx"),
])
def test_mistaken_hosts_are_refused_naming_the_argument(hosts, error, named):
    instrumentor = NeuralwattInstrumentor()
    with pytest.raises(error, match="hosts=") as raised:
        instrumentor.instrument(hosts=hosts)
    assert named in str(raised.value)
    assert not instrumentor.is_instrumented_by_opentelemetry


def test_an_unlisted_neuralwatt_host_is_named_once_in_a_warning(telemetry, emulator, caplog):
    caplog.set_level(logging.WARNING, logger="opentelemetry_instrumentation_neuralwatt")
    with openai.OpenAI(base_url=f"http://localhost:{emulator.port}/v1", api_key="k") as other:
        for _ in range(3):
            other.chat.completions.create(model=MODEL, messages=MESSAGES)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"localhost:{emulator.port}" in warnings[0] and "OTEL_INSTRUMENTATION_NEURALWATT_HOSTS" in warnings[0]
    assert "hosts=" in warnings[0]
    assert telemetry.spans() == []
    assert telemetry.total("neuralwatt.energy") == sum(e.energy["energy_joules"] for e in emulator.exchanges)


def test_a_failed_parse_keeps_its_energy_and_marks_the_span(telemetry, client, emulator):
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    with pytest.raises(openai.LengthFinishReasonError):
        helpers(client).parse(model=MODEL, messages=MESSAGES, response_format=Answer, max_tokens=3,
                              extra_headers=faults("length"))

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "LengthFinishReasonError"
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]


@pytest.mark.parametrize("fault", ["null-choices", "many-choices", "hostile-fields"])
def test_hostile_answers_keep_the_valid_energy_and_give_valid_bounded_attributes(telemetry, client, emulator, fault):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=faults(fault))

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert_valid_attributes(span)
    for value in span.attributes.values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, str):
                item.encode("utf-8")  # no lone surrogates
            if isinstance(item, int):
                assert -(2**63) <= item < 2**63
    assert len(span.attributes.get("gen_ai.response.finish_reasons", ())) <= 1000
    if fault == "hostile-fields":
        assert span.attributes["gen_ai.response.model"] == "gpt-?-oss"  # the lone surrogate replaced
        assert "gen_ai.usage.input_tokens" not in span.attributes  # beyond int64: dropped


def test_ints_beyond_int64_and_surrogates_in_the_request_never_reach_an_attribute(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, seed=2**70, max_tokens=3)

    span = telemetry.span()
    assert "gen_ai.request.seed" not in span.attributes
    assert span.attributes["gen_ai.request.max_tokens"] == 3


def test_a_deeply_nested_energy_report_keeps_its_valid_fields(telemetry, client, emulator):
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, extra_headers=faults("deep-energy")))

    exchange = emulator.exchanges[-1]
    assert neuralwatt_attributes(telemetry.span()) == energy_attributes(exchange.energy, exchange.cost)


def test_an_api_key_echoed_in_an_error_never_reaches_the_span(telemetry, emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-live-0123456789abcdef", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=faults("http-401"))

    assert "sk-live-0123456789abcdef" in str(raised.value)  # the user still sees the SDK's message
    span = telemetry.span()
    assert "sk-live" not in span.status.description
    assert not any("sk-live" in str(v) for v in span.attributes.values())


class RaisingSpan:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RuntimeError(f"broken span: {name}")
        return fail


class RaisingTracer:
    def __init__(self, where):
        self.where = where

    def start_span(self, *args, **kwargs):
        if self.where == "start":
            raise RuntimeError("broken tracer")
        return RaisingSpan()


class RaisingProvider:
    def __init__(self, where):
        self.where = where

    def get_tracer(self, *args, **kwargs):
        return RaisingTracer(self.where)


@pytest.mark.parametrize("where", ["start", "every span method"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_tracer_that_raises_costs_the_call_nothing(emulator, client, where, stream):
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(tracer_provider=RaisingProvider(where), meter_provider=recorded.meter_provider,
                            hosts=[f"127.0.0.1:{emulator.port}"])
    try:
        result = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream)
        chunks = list(result) if stream else None
    finally:
        instrumentor.uninstrument()

    exchange = emulator.exchanges[-1]
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Energy is")
    else:
        assert result.id == exchange.response_id
    if where != "start":  # the call was measured all the same
        assert recorded.total("neuralwatt.energy") == exchange.energy["energy_joules"]


def test_streams_copy_and_pickle_as_the_sdks_do(telemetry, client):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)

    copied = copy.copy(stream)
    assert isinstance(copied, openai.Stream)
    with pytest.raises(TypeError, match="pickle"):  # what pickling the SDK's stream raises
        pickle.dumps(stream)
    list(copied)
    stream.close()
    assert len(telemetry.spans()) == 1
