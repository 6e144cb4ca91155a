"""GenAI semantic conventions as they stand: streaming timing, usage details, server.port, and
exemplars that lead from a metric point to the request's trace."""

import openai
import pytest
from conftest import MESSAGES, MODEL, Telemetry, energy_attributes, neuralwatt_attributes

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.telemetry.instruments import DURATION_BUCKETS_S, TIME_PER_CHUNK_BUCKETS_S

USAGE = {"include_usage": True}
TIMING = ("gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.operation.time_per_output_chunk")


def metric(telemetry, name):
    data = telemetry.reader.get_metrics_data()
    for resource_metrics in (data.resource_metrics if data else []):
        for scope_metrics in resource_metrics.scope_metrics:
            for found in scope_metrics.metrics:
                if found.name == name:
                    return found
    return None


def test_a_stream_records_time_to_first_chunk_on_its_span_and_both_timing_histograms(telemetry, client, emulator):
    emulator.chunk_delay = 0.01
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, stream_options=USAGE))

    span = telemetry.span()
    first_chunk = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0.01 <= first_chunk < (span.end_time - span.start_time) / 1e9  # after the role-only chunk
    (first,) = telemetry.points(TIMING[0]).values()
    assert first.sum == first_chunk and first.count == 1
    assert tuple(first.explicit_bounds) == tuple(DURATION_BUCKETS_S)
    (per_chunk,) = telemetry.points(TIMING[1]).values()
    assert per_chunk.count == 1 and 0.009 < per_chunk.sum < 0.1  # one chunk every 10 ms
    assert tuple(per_chunk.explicit_bounds) == tuple(TIME_PER_CHUNK_BUCKETS_S)
    assert metric(telemetry, TIMING[0]).unit == metric(telemetry, TIMING[1]).unit == "s"


def test_heartbeats_and_status_frames_are_not_the_first_chunk(telemetry, client, emulator):
    emulator.chunk_delay = 0.02
    list(client.chat.completions.create(model="moonshotai/Kimi-K2.6-flex", messages=MESSAGES, stream=True,
                                        extra_headers={"X-Emulator-Fault": "mcr-status"}))

    # Two status frames, three heartbeats and the role-only chunk come first, 20 ms apart.
    assert telemetry.span().attributes["gen_ai.response.time_to_first_chunk"] >= 4 * 0.02


async def test_async_streams_record_timing_too(telemetry, aclient):
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    [chunk async for chunk in stream]

    assert telemetry.span().attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert sum(p.count for p in telemetry.points(TIMING[0]).values()) == 1


def test_non_streaming_calls_record_no_stream_timing(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert "gen_ai.response.time_to_first_chunk" not in telemetry.span().attributes
    assert all(telemetry.points(name) == {} for name in TIMING)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_cache_read_and_reasoning_tokens(telemetry, emulator, stream):
    with openai.OpenAI(base_url=emulator.base_url, api_key="k",
                       default_headers={"X-NW-Conversation-ID": "c-1"}) as client:
        for _ in range(2):  # the second turn of an MCR session reads its context from cache
            result = client.chat.completions.create(model="zai-org/GLM-5.1-long", messages=MESSAGES,
                                                    stream=stream, stream_options=USAGE if stream else openai.NOT_GIVEN)
            list(result) if stream else None

    span, usage = telemetry.spans()[-1], emulator.exchanges[-1].usage
    assert usage["prompt_tokens_details"]["cached_tokens"] > 0
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == usage["prompt_tokens_details"]["cached_tokens"]
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == \
        usage["completion_tokens_details"]["reasoning_tokens"] > 0


def test_server_port_is_443_for_an_https_base_url_without_a_port():
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider,
                            hosts=["127.0.0.1"])
    try:
        with openai.OpenAI(base_url="https://127.0.0.1/v1", api_key="k", max_retries=0, timeout=5) as client:
            with pytest.raises(openai.APIConnectionError):  # nothing listens on 443 here
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()

    span = recorded.span()
    assert span.attributes["server.port"] == 443
    (attributes,) = recorded.points("gen_ai.client.operation.duration")
    assert dict(attributes)["server.port"] == 443


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_energy_points_carry_an_exemplar_with_the_requests_trace(telemetry, client, emulator, stream):
    result = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream)
    list(result) if stream else None

    span = telemetry.span()
    assert neuralwatt_attributes(span) == energy_attributes(emulator.exchanges[-1].energy, emulator.exchanges[-1].cost)
    # One collection (the SDK hands out a point's exemplars once, then starts afresh).
    data = telemetry.reader.get_metrics_data()
    points = {metric.name: metric.data.data_points for rm in data.resource_metrics
              for sm in rm.scope_metrics for metric in sm.metrics}
    for name in ("neuralwatt.energy", "neuralwatt.power", "gen_ai.client.operation.duration"):
        (point,) = points[name]
        assert [(e.trace_id, e.span_id) for e in point.exemplars] == [(span.context.trace_id, span.context.span_id)]
    assert points["neuralwatt.energy"][0].exemplars[0].value == emulator.exchanges[-1].energy["energy_joules"]


def test_tracer_and_meter_declare_the_schema_of_the_names_they_emit(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert telemetry.span().instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.41.1"
    data = telemetry.reader.get_metrics_data()
    schemas = {sm.scope.schema_url for rm in data.resource_metrics for sm in rm.scope_metrics}
    assert schemas == {"https://opentelemetry.io/schemas/1.41.1"}
