"""Metrics: joules, watts, grams of CO2e and dollars per request, with the GenAI duration and
token histograms, carrying the contract's attributes and bucket boundaries."""

import pytest
from conftest import MESSAGES, MODEL

from opentelemetry_instrumentation_neuralwatt.telemetry.instruments import (
    CARBON_BUCKETS_G,
    COST_BUCKETS_USD,
    ENERGY_BUCKETS_J,
    POWER_BUCKETS_W,
)


def run_mixed_workload(client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                        stream_options={"include_usage": True}))
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=40)


def test_energy_metrics_sum_exactly_what_the_server_reported(telemetry, client, emulator):
    run_mixed_workload(client)

    sent = emulator.exchanges
    assert telemetry.count("neuralwatt.energy") == 3
    assert telemetry.total("neuralwatt.energy") == pytest.approx(sum(e.energy["energy_joules"] for e in sent), rel=1e-12)
    assert telemetry.total("neuralwatt.power") == pytest.approx(sum(e.energy["avg_power_watts"] for e in sent), rel=1e-12)
    assert telemetry.total("neuralwatt.carbon") == pytest.approx(sum(e.energy["carbon_g_co2eq"] for e in sent), rel=1e-12)
    assert telemetry.total("neuralwatt.cost") == pytest.approx(sum(e.cost["request_cost_usd"] for e in sent), rel=1e-12)


def test_metric_attributes_and_units(telemetry, client, emulator):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    exchange = emulator.exchanges[-1]
    (attributes, point), = telemetry.points("neuralwatt.energy").items()
    assert dict(attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "neuralwatt",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": exchange.model,
        "server.address": "127.0.0.1",
        "server.port": emulator.port,
        "neuralwatt.api": "chat_completions",
    }
    assert point.sum == exchange.energy["energy_joules"]
    assert point.min == point.max == exchange.energy["energy_joules"]

    units = {}
    for resource_metrics in telemetry.reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                units[metric.name] = metric.unit
    assert units == {
        "neuralwatt.energy": "J",
        "neuralwatt.power": "W",
        "neuralwatt.carbon": "g",
        "neuralwatt.cost": "USD",
        "gen_ai.client.operation.duration": "s",
        "gen_ai.client.token.usage": "{token}",
        "neuralwatt.quota.energy_remaining": "kWh",
        "neuralwatt.quota.allowance_remaining": "USD",
    }


def test_histograms_use_the_advisory_buckets(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    for name, buckets in (("neuralwatt.energy", ENERGY_BUCKETS_J), ("neuralwatt.power", POWER_BUCKETS_W),
                          ("neuralwatt.carbon", CARBON_BUCKETS_G), ("neuralwatt.cost", COST_BUCKETS_USD)):
        (point,) = telemetry.points(name).values()
        assert list(point.explicit_bounds) == [float(b) for b in buckets], name


def test_token_usage_by_type(telemetry, client, emulator):
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                        stream_options={"include_usage": True}))

    usage = emulator.exchanges[-1].usage
    by_type = {dict(a)["gen_ai.token.type"]: p.sum for a, p in telemetry.points("gen_ai.client.token.usage").items()}
    assert by_type == {"input": usage["prompt_tokens"], "output": usage["completion_tokens"]}


def test_stream_without_usage_chunk_records_no_token_metric(telemetry, client, emulator):
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    assert telemetry.points("gen_ai.client.token.usage") == {}
    assert telemetry.total("neuralwatt.energy") == emulator.exchanges[-1].energy["energy_joules"]


async def test_async_calls_record_the_same_metrics(telemetry, aclient, emulator):
    await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async for _ in response:
        pass

    assert telemetry.total("neuralwatt.energy") == pytest.approx(
        sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)
    assert telemetry.count("gen_ai.client.operation.duration") == 2


def test_response_models_a_server_invents_are_bounded_and_the_request_model_stays_exact(telemetry, client, emulator):
    """A server naming a new model in every response must not fill the SDK's attribute sets (2,000,
    then its overflow series, where a real new model's data would be lost)."""
    from conftest import faults

    from opentelemetry_instrumentation_neuralwatt.telemetry.metric_points import MAX_RESPONSE_MODELS

    for _ in range(MAX_RESPONSE_MODELS + 20):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=faults("invented-model"))
    client.chat.completions.create(model="zai-org/GLM-5.1-FP8", messages=MESSAGES)  # a real model, first used now

    for name in ("neuralwatt.energy", "gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        points = [dict(a) for a in telemetry.points(name)]
        assert not any("otel.metric.overflow" in a for a in points), name
        invented = {a["gen_ai.response.model"] for a in points if a["gen_ai.request.model"] == MODEL}
        assert len(invented) == MAX_RESPONSE_MODELS + 1 and "_other" in invented, name
    by_model = {}
    for attributes, point in telemetry.points("neuralwatt.energy").items():
        model = dict(attributes)["gen_ai.request.model"]
        by_model[model] = by_model.get(model, 0.0) + point.sum
    assert by_model["zai-org/GLM-5.1-FP8"] == emulator.exchanges[-1].energy["energy_joules"]
    assert sum(by_model.values()) == pytest.approx(sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)
    # Spans are per call: they keep the model the server named.
    assert telemetry.spans()[-2].attributes["gen_ai.response.model"] == emulator.exchanges[-2].model
