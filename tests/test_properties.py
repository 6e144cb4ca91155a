"""Property and fuzz tests (hypothesis): random SSE byte streams cut at random points, and random
or hostile energy/cost payloads. The user's chunks are exactly the SDK's without us, no exception
of ours escapes, and every attribute we record is valid."""

import json
import math

import openai
from conftest import Telemetry, assert_valid_attributes, httpx, neuralwatt_attributes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import NoOpTracerProvider

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.wire.energy import measurement
from opentelemetry_instrumentation_neuralwatt.wire.fields import MAX_EXTRA_FIELDS

MODEL = "openai/gpt-oss-20b"
ENERGY_FIELDS = ["energy_joules", "energy_kwh", "avg_power_watts", "duration_seconds", "attribution_method",
                 "attribution_ratio", "measurement_available", "carbon_g_co2eq",
                 "grid_carbon_intensity_gco2perkwhr", "grid_id", "carbon_source"]

hostile_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=300),
)
json_values = st.recursive(hostile_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
energy_payloads = st.dictionaries(st.one_of(st.sampled_from(ENERGY_FIELDS + ["mcr"]), st.text(max_size=70)),
                                  json_values, max_size=16)
valid_energy = st.fixed_dictionaries(
    {"energy_joules": st.floats(0, 1e6), "avg_power_watts": st.floats(0, 1e4), "attribution_method": st.text(max_size=20)},
    optional={"measurement_available": st.booleans(), "carbon_g_co2eq": st.floats(0, 10), "mcr": st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), st.integers(0, 100), max_size=3)})
cost_payloads = st.dictionaries(st.one_of(st.sampled_from(["request_cost_usd", "budget_remaining_usd"]),
                                          st.text(max_size=20)), json_values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(energy=st.one_of(energy_payloads, json_values, st.text(max_size=200)),
       cost=st.one_of(st.none(), cost_payloads, st.text(max_size=50)))
def test_any_payload_gives_a_bounded_valid_measurement(energy, cost):
    found = measurement(energy, cost)

    if found is None:
        return
    assert 0 < len(found.attributes) <= len(ENERGY_FIELDS) + 4 + 2 * MAX_EXTRA_FIELDS
    for key, value in found.attributes.items():
        assert key.startswith(("neuralwatt.energy.", "neuralwatt.cost.")) and len(key) < 160
        assert isinstance(value, (str, bool, int, float))
        if isinstance(value, float):
            assert math.isfinite(value)
        if isinstance(value, str):
            assert len(value) <= 256
    for number in (found.joules, found.watts, found.carbon_g, found.cost_usd):
        assert number is None or (math.isfinite(number) and number >= 0)
    # The metric values, checked apart from the attributes, are the attributes' values.
    attributes = found.attributes
    assert found.joules == attributes.get("neuralwatt.energy.joules")
    assert found.watts == attributes.get("neuralwatt.energy.avg_power_watts")
    assert found.carbon_g == attributes.get("neuralwatt.energy.carbon_g_co2eq")
    assert found.cost_usd == attributes.get("neuralwatt.cost.request_cost_usd")
    assert found.measured == attributes.get("neuralwatt.energy.measurement_available")


def sse_bytes(contents, energy_text, cost_text, newline, keepalive, energy_in_data):
    head = {"id": "chatcmpl-fuzz", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    events = []
    for index, content in enumerate(contents):
        chunk = {**head, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
        if energy_in_data is not None and index == len(contents) - 1:
            chunk["energy"] = energy_in_data
        events.append("data: " + json.dumps(chunk) + newline + newline)
        if keepalive:
            events.append(": ping" + newline)
    events.append("data: " + json.dumps({**head, "choices": [], "usage": {
        "prompt_tokens": 1, "completion_tokens": len(contents), "total_tokens": len(contents) + 1}}) + newline + newline)
    events.append(": energy " + energy_text + newline + ": cost " + cost_text + newline)
    events.append("data: [DONE]" + newline + newline)
    return "".join(events).encode()


def cut(data: bytes, points):
    points = sorted({p % (len(data) + 1) for p in points})
    pieces, start = [], 0
    for point in points + [len(data)]:
        pieces.append(data[start:point])
        start = point
    return [piece for piece in pieces if piece]


def read_stream(pieces):
    """Chunks (as dicts) a real openai client gets from these network reads, or the exception."""
    def answer(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces))

    client = openai.OpenAI(base_url="https://api.neuralwatt.com/v1", api_key="k", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(answer)))
    try:
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                                stream=True, stream_options={"include_usage": True})
        return ("chunks", [chunk.model_dump() for chunk in stream])
    except Exception as error:  # the SDK's own failures must be the same with and without us
        return ("raised", type(error).__name__)
    finally:
        client.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contents=st.lists(st.text(max_size=20), min_size=1, max_size=8),
    energy=st.one_of(valid_energy, energy_payloads, st.text(max_size=100)),
    cost=st.one_of(cost_payloads, st.text(max_size=40)),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    keepalive=st.booleans(),
    in_data=st.booleans(),
    points=st.lists(st.integers(min_value=0, max_value=10**6), max_size=12),
)
def test_random_streams_cut_anywhere_reach_the_user_unchanged(contents, energy, cost, newline, keepalive,
                                                               in_data, points):
    energy_text = energy if isinstance(energy, str) else json.dumps(energy)
    cost_text = cost if isinstance(cost, str) else json.dumps(cost)
    # a line break would end the comment line early: that is another stream, generated elsewhere
    assume("\n" not in energy_text + cost_text and "\r" not in energy_text + cost_text)
    data = sse_bytes(contents, energy_text, cost_text, newline, keepalive,
                     energy if in_data and isinstance(energy, dict) else None)
    pieces = cut(data, points)

    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    bare = read_stream(pieces)
    recorded = Telemetry()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider)
    try:
        ours = read_stream(pieces)
    finally:
        instrumentor.uninstrument()

    assert ours == bare
    (span,) = recorded.spans()
    assert_valid_attributes(span)
    if ours[0] == "chunks":
        expected = measurement(energy_text, cost_text)
        recorded_energy = neuralwatt_attributes(span)
        assert recorded_energy == (dict(expected.attributes) if expected else {})


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=400), points=st.lists(st.integers(min_value=0, max_value=500), max_size=6))
def test_arbitrary_bytes_never_raise_anything_of_ours(body, points):
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    pieces = cut(body, points)
    bare = read_stream(pieces)
    instrumentor.instrument(tracer_provider=NoOpTracerProvider())
    try:
        assert read_stream(pieces) == bare
    finally:
        instrumentor.uninstrument()
