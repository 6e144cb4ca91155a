"""Every shape the energy payload can take, and hostile ones: the user gets exactly what the SDK
gives without us, the span records what is valid and nothing invalid, and a debug log says
what was dropped."""

import logging

import openai
import pytest
from conftest import (
    MESSAGES,
    MODEL,
    Telemetry,
    assert_valid_attributes,
    energy_attributes,
    faults,
    header_cost_attributes,
    neuralwatt_attributes,
)
from opentelemetry.trace import StatusCode

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

SEED = 11


def stream_call(*names):
    def call(client):
        response = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True},
            extra_headers=faults(*names),
        )
        return [chunk.model_dump() for chunk in response]
    return call


def plain_call(*names):
    def call(client):
        return client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=faults(*names)).model_dump()
    return call


def run_with_and_without_us(call):
    """Run `call` against identical emulators, bare then instrumented; the user-visible outcome
    (chunks, response, or exception) must be identical. Returns the instrumented run's
    telemetry and its emulator exchange."""
    outcomes = []
    for instrumented in (False, True):
        recorded = Telemetry()
        instrumentor = NeuralwattInstrumentor()
        with NeuralwattEmulator(seed=SEED) as emulator:
            if instrumented:
                instrumentor.instrument(tracer_provider=recorded.tracer_provider,
                                        meter_provider=recorded.meter_provider,
                                        hosts=[f"127.0.0.1:{emulator.port}"])
            try:
                with openai.OpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as client:
                    outcome = ("returned", call(client))
            except Exception as error:  # the same failure must reach the user either way
                outcome = ("raised", type(error), str(error))
            finally:
                if instrumented:
                    instrumentor.uninstrument()
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1]
    return recorded, emulator.exchanges[-1], outcomes[1]


def without(mapping, *keys):
    return {k: v for k, v in mapping.items() if k not in keys}


both_forms = pytest.mark.parametrize("make_call", [stream_call, plain_call], ids=["stream", "json"])


@pytest.mark.parametrize("variant", ["crlf", "split-comment", "keepalive"])
def test_wire_variants_deliver_the_exact_energy(variant):
    recorded, exchange, _ = run_with_and_without_us(stream_call(variant))

    span = recorded.span()
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


def test_carbon_grid_and_nested_mcr_fields_are_attributes():
    recorded, exchange, _ = run_with_and_without_us(stream_call())

    attributes = recorded.span().attributes
    assert attributes["neuralwatt.energy.carbon_g_co2eq"] == exchange.energy["carbon_g_co2eq"]
    assert attributes["neuralwatt.energy.grid_carbon_intensity"] == 42.0
    assert attributes["neuralwatt.energy.grid_id"] == "FI"
    assert attributes["neuralwatt.energy.carbon_source"] == "agent_cache"
    assert attributes["neuralwatt.energy.mcr.session_turns"] == 1
    assert attributes["neuralwatt.energy.mcr.cache_hit"] is False
    assert attributes["neuralwatt.cost.request_cost_usd"] == exchange.cost["request_cost_usd"]


def test_energy_inside_a_data_chunk_is_accepted():
    recorded, exchange, (_, chunks) = run_with_and_without_us(stream_call("energy-in-data"))

    assert chunks[-1]["energy"] == exchange.energy  # the user still sees it in the chunk
    assert neuralwatt_attributes(recorded.span()) == energy_attributes(exchange.energy, exchange.cost)


@both_forms
def test_unmeasured_request_is_recorded_as_unmeasured_not_zero(make_call):
    recorded, exchange, _ = run_with_and_without_us(make_call("no-measurement"))

    assert neuralwatt_attributes(recorded.span()) == {
        "neuralwatt.energy.measurement_available": False,
        **energy_attributes({}, exchange.cost),
    }
    assert recorded.count("neuralwatt.energy") == 0
    assert recorded.total("neuralwatt.cost") == exchange.cost["request_cost_usd"]


@both_forms
def test_no_energy_and_no_cost_in_the_body_leaves_only_the_cost_headers(make_call):
    recorded, exchange, _ = run_with_and_without_us(make_call("no-energy"))

    assert neuralwatt_attributes(recorded.span()) == header_cost_attributes(exchange)
    assert recorded.points("neuralwatt.energy") == {}


@both_forms
def test_energy_without_cost(make_call):
    recorded, exchange, _ = run_with_and_without_us(make_call("no-cost"))

    # The cost headers (sent on every response) fill in for the missing cost object.
    assert neuralwatt_attributes(recorded.span()) == {**energy_attributes(exchange.energy),
                                                      **header_cost_attributes(exchange)}
    assert recorded.total("neuralwatt.cost") == header_cost_attributes(exchange)["neuralwatt.cost.request_cost_usd"]


@both_forms
def test_malformed_energy_is_dropped_cost_kept(make_call, caplog):
    caplog.set_level(logging.DEBUG, logger="opentelemetry_instrumentation_neuralwatt")
    recorded, exchange, _ = run_with_and_without_us(make_call("malformed-energy"))

    span = recorded.span()
    assert span.status.status_code is StatusCode.UNSET
    assert neuralwatt_attributes(span) == energy_attributes({}, exchange.cost)
    assert "neuralwatt: dropped" in caplog.text


@both_forms
def test_nan_and_infinity_are_dropped_the_rest_kept(make_call, caplog):
    caplog.set_level(logging.DEBUG, logger="opentelemetry_instrumentation_neuralwatt")
    recorded, exchange, _ = run_with_and_without_us(make_call("nan-energy"))

    span = recorded.span()
    assert_valid_attributes(span)
    valid = without(exchange.energy, "energy_joules", "avg_power_watts", "carbon_g_co2eq")
    assert neuralwatt_attributes(span) == energy_attributes(valid, exchange.cost)
    assert recorded.points("neuralwatt.energy") == {}
    assert "energy_joules" in caplog.text


@both_forms
def test_wrong_types_are_dropped(make_call):
    recorded, exchange, _ = run_with_and_without_us(make_call("wrong-types"))

    span = recorded.span()
    assert_valid_attributes(span)
    valid = without(exchange.energy, "energy_joules", "avg_power_watts", "duration_seconds",
                    "attribution_method", "measurement_available", "energy_kwh")
    assert neuralwatt_attributes(span) == energy_attributes(valid)  # the cost "0.01" string is dropped too
    assert recorded.points("neuralwatt.cost") == {}


@both_forms
def test_negative_and_absurd_numbers_are_dropped(make_call):
    recorded, exchange, _ = run_with_and_without_us(make_call("absurd-energy"))

    valid = without(exchange.energy, "energy_joules", "avg_power_watts", "attribution_ratio", "duration_seconds")
    assert neuralwatt_attributes(recorded.span()) == energy_attributes(valid, exchange.cost)
    assert recorded.points("neuralwatt.energy") == {}


@both_forms
def test_a_one_megabyte_json_field_is_cut_to_a_bounded_attribute(make_call):
    """One rule for a whole body and a stream's `: energy` comment: the known fields are kept, an
    unknown field's value is cut to what an attribute holds."""
    recorded, exchange, _ = run_with_and_without_us(make_call("huge-energy"))

    attributes = neuralwatt_attributes(recorded.span())
    assert attributes.pop("neuralwatt.energy.padding") == "x" * 256
    assert attributes == energy_attributes(without(exchange.energy, "padding"), exchange.cost)


def test_non_utf8_fails_in_the_sdk_exactly_as_without_us():
    recorded, _, outcome = run_with_and_without_us(stream_call("non-utf8"))

    assert outcome[0] == "raised" and outcome[1] is UnicodeDecodeError
    span = recorded.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "UnicodeDecodeError"


@pytest.mark.parametrize("fault, error", [("http-500", "InternalServerError"),
                                          ("http-429", "RateLimitError"),
                                          ("http-401", "AuthenticationError")])
def test_http_errors_reach_the_user_and_mark_the_span(fault, error):
    recorded, _, outcome = run_with_and_without_us(plain_call(fault))

    assert outcome[0] == "raised" and outcome[1].__name__ == error
    span = recorded.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error
    (attributes,) = recorded.points("gen_ai.client.operation.duration")
    assert dict(attributes)["error.type"] == error


@both_forms
def test_negative_zero_is_negative_and_dropped(make_call):
    """-0.0 J is not a measurement (the rule for negative numbers), in a body and a comment alike."""
    recorded, exchange, _ = run_with_and_without_us(make_call("negative-zero"))

    valid = without(exchange.energy, "energy_joules", "avg_power_watts")
    assert neuralwatt_attributes(recorded.span()) == energy_attributes(valid, exchange.cost)
    assert recorded.points("neuralwatt.energy") == {} and recorded.points("neuralwatt.power") == {}


@both_forms
def test_energy_sent_as_a_json_string_is_read_alike_in_a_body_and_a_comment(make_call):
    """One rule for both: `"energy": "{...}"` and `: energy "{...}"` are the object's text."""
    recorded, exchange, _ = run_with_and_without_us(make_call("string-energy"))

    assert neuralwatt_attributes(recorded.span()) == energy_attributes(exchange.energy, exchange.cost)
    assert recorded.total("neuralwatt.energy") == exchange.energy["energy_joules"]


def test_a_payload_over_the_bound_and_nested_too_deep_keeps_its_known_fields():
    """A 1 MB `: energy` comment with a member nested 3,000 deep: the known fields are kept."""
    recorded, exchange, _ = run_with_and_without_us(stream_call("huge-energy", "deep-energy"))

    attributes = neuralwatt_attributes(recorded.span())
    assert attributes.pop("neuralwatt.energy.padding") == "x" * 256
    assert attributes == energy_attributes(without(exchange.energy, "padding"), exchange.cost)
    assert recorded.total("neuralwatt.energy") == exchange.energy["energy_joules"]
