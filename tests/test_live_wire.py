"""What the live service sends besides the energy object reaches the span, exactly as sent:
the whole energy object (capped attribution, `energy.mcr`), cost, billing/quota/MCR headers,
MCR session data and status frames, the flex tier, the conversation id, repeated reports."""

import json

import openai
import pytest
from conftest import MESSAGES, Telemetry, energy_attributes, faults, neuralwatt_attributes

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

LONG = "zai-org/GLM-5.1-long"
FLEX = "moonshotai/Kimi-K2.6-flex"
CONVERSATION = {"X-NW-Conversation-ID": "conversation-42"}


def header_attributes(exchange) -> dict:
    """The span attributes the contract maps the response headers to."""
    sent = {k.lower(): v for k, v in exchange.response_headers.items()}
    expected = {
        "neuralwatt.quota.subscription_plan": sent["x-subscription-plan"],
        "neuralwatt.quota.energy_included_kwh": float(sent["x-energy-included"]),
        "neuralwatt.quota.energy_remaining_kwh": float(sent["x-energy-remaining"]),
        "neuralwatt.quota.energy_used_kwh": float(sent["x-energy-used"]),
    }
    for name, value in sent.items():
        if name.startswith("x-mcr-"):
            expected["neuralwatt.mcr." + name[6:].replace("-", "_")] = int(value) if value.isdigit() else value
    return expected


def live_attributes(span) -> dict:
    return {k: v for k, v in span.attributes.items()
            if k.startswith(("neuralwatt.quota.", "neuralwatt.mcr.")) and k != "neuralwatt.mcr.status_events"}


def assert_live_call(span, exchange, tier="default"):
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    expected = header_attributes(exchange)
    if exchange.mcr_session is not None:
        expected.update({f"neuralwatt.mcr.{k}": v for k, v in exchange.mcr_session.items()})
    assert live_attributes(span) == expected
    assert span.attributes["neuralwatt.response.service_tier"] == tier


def call(client, model=LONG, stream=False, **extra):
    result = client.chat.completions.create(model=model, messages=MESSAGES, stream=stream, **extra)
    return list(result) if stream else result


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_mcr_model_call_keeps_everything_the_service_sent(telemetry, client, emulator, stream):
    call(client, stream=stream, extra_headers=CONVERSATION)

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    # The capped multi-GPU attribution, typed: a bool stays a bool, floats stay exact.
    assert span.attributes["neuralwatt.energy.ratio_was_capped"] is exchange.energy["ratio_was_capped"]
    assert span.attributes["neuralwatt.energy.uncapped_energy_joules"] == exchange.energy["uncapped_energy_joules"]
    assert span.attributes["neuralwatt.energy.cost_usd"] == exchange.energy["cost_usd"]
    # Every key of energy.mcr (about twenty), types preserved.
    mcr = exchange.energy["mcr"]
    assert len(mcr) >= 20
    assert {k: span.attributes[f"neuralwatt.energy.mcr.{k}"] for k in mcr} == mcr
    assert span.attributes["gen_ai.conversation.id"] == "conversation-42"
    assert_live_call(span, exchange)


async def test_async_calls_keep_it_too(telemetry, aclient, emulator):
    await aclient.chat.completions.create(model=LONG, messages=MESSAGES, extra_headers=CONVERSATION)
    stream = await aclient.chat.completions.create(model=LONG, messages=MESSAGES, stream=True,
                                                   extra_headers=CONVERSATION)
    [chunk async for chunk in stream]

    whole, streamed = telemetry.spans()
    assert_live_call(whole, emulator.exchanges[0])
    assert_live_call(streamed, emulator.exchanges[1])


def test_raw_and_streaming_responses_keep_the_headers(telemetry, client, emulator):
    client.chat.completions.with_raw_response.create(model=LONG, messages=MESSAGES).parse()
    with client.chat.completions.with_streaming_response.create(model=LONG, messages=MESSAGES,
                                                                stream=True) as response:
        list(response.parse())

    for span, exchange in zip(telemetry.spans(), emulator.exchanges, strict=True):
        assert_live_call(span, exchange)


def test_a_conversation_keeps_its_session_and_its_ids_only_grow(telemetry, emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key="k", default_headers=CONVERSATION) as client:
        for stream in (False, True, False):
            call(client, stream=stream)

    spans = telemetry.spans()
    assert {span.attributes["gen_ai.conversation.id"] for span in spans} == {"conversation-42"}
    assert len({span.attributes["neuralwatt.mcr.session_fp"] for span in spans}) == 1
    through = [span.attributes["neuralwatt.mcr.stored_through"] for span in spans]
    drop = [span.attributes["neuralwatt.mcr.safe_drop_before"] for span in spans]
    assert through == sorted(through) and drop == sorted(drop) and drop[1:] == through[:-1]
    assert through == [e.mcr_session["stored_through"] for e in emulator.exchanges]


def test_cost_headers_fill_in_when_the_body_has_no_cost(telemetry, client, emulator):
    call(client, model="openai/gpt-oss-20b", extra_headers=faults("no-cost"))

    exchange = emulator.exchanges[-1]
    assert exchange.cost is None
    span = telemetry.span()
    assert span.attributes["neuralwatt.cost.request_cost_usd"] == float(exchange.response_headers["x-request-cost-usd"])
    assert telemetry.total("neuralwatt.cost") == float(exchange.response_headers["x-request-cost-usd"])


def test_quota_gauges_hold_the_last_values_seen(telemetry, client, emulator):
    for _ in range(3):
        call(client, model="openai/gpt-oss-20b")

    last = emulator.exchanges[-1].response_headers
    (energy,) = telemetry.points("neuralwatt.quota.energy_remaining").values()
    (allowance,) = telemetry.points("neuralwatt.quota.allowance_remaining").values()
    assert energy.value == float(last["x-energy-remaining"])
    assert allowance.value == emulator.exchanges[-1].cost["allowance_remaining_usd"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_quota_gauges_and_cost_metric_without_a_recording_span(emulator, client, stream):
    """With a tracer that records nothing, the headers are not read whole (nothing keeps the span
    attributes), yet the gauges and the cost the headers state are exactly what was sent."""
    from opentelemetry.trace import NoOpTracerProvider

    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(tracer_provider=NoOpTracerProvider(), meter_provider=recorded.meter_provider,
                            hosts=[f"127.0.0.1:{emulator.port}"])
    try:
        call(client, model="openai/gpt-oss-20b", stream=stream)
        call(client, model="openai/gpt-oss-20b", stream=stream, extra_headers=faults("no-cost"))
    finally:
        instrumentor.uninstrument()

    first, last = emulator.exchanges
    (energy,) = recorded.points("neuralwatt.quota.energy_remaining").values()
    (allowance,) = recorded.points("neuralwatt.quota.allowance_remaining").values()
    assert energy.value == float(last.response_headers["x-energy-remaining"])
    assert allowance.value == float(last.response_headers["x-allowance-remaining-usd"])
    assert last.cost is None  # the second call's cost came from its headers only
    assert recorded.total("neuralwatt.cost") == first.cost["request_cost_usd"] + float(
        last.response_headers["x-request-cost-usd"])


def test_a_repeated_quota_header_keeps_its_last_valid_value_read_whole_or_alone():
    import httpx2

    from opentelemetry_instrumentation_neuralwatt.wire.headers import ResponseHeaders

    headers = httpx2.Headers([("x-energy-remaining", "4.5"), ("x-allowance-remaining-usd", "70"),
                              ("x-energy-remaining", "nan"), ("x-allowance-remaining-usd", "69.5")])

    assert ResponseHeaders(headers).quota() == (4.5, 69.5)  # looked up alone
    whole = ResponseHeaders(headers)
    assert whole.attributes["neuralwatt.quota.energy_remaining_kwh"] == 4.5
    assert whole.quota() == (4.5, 69.5)  # after the whole read, the same
    assert ResponseHeaders(httpx2.Headers({"content-type": "application/json"})).quota() == (None, None)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_flex_tier_and_its_heartbeats(telemetry, client, emulator, stream):
    result = call(client, model=FLEX, stream=stream)

    if stream:  # heartbeats (empty deltas) come before the first token and reach the user as sent
        assert [chunk.choices[0].delta.content for chunk in result[:3]] == [None, None, None]
        assert all(chunk.service_tier == "flex" for chunk in result)
    assert_live_call(telemetry.span(), emulator.exchanges[-1], tier="flex")


def test_status_frames_reach_the_user_as_the_sdk_makes_them_and_the_span_as_events(telemetry, client, emulator):
    chunks = call(client, stream=True, extra_headers=faults("mcr-status"))

    assert [chunk.choices for chunk in chunks[:2]] == [None, None]  # the SDK's own rendering
    span = telemetry.span()
    assert span.attributes["neuralwatt.mcr.status_events"] == 2
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        ("neuralwatt.mcr.status", {"phase": "compacting", "progress": 0.5}),
        ("neuralwatt.mcr.status", {"phase": "compacting", "progress": 1.0})]
    assert_live_call(span, emulator.exchanges[-1])


def test_a_text_status_frame_fails_in_the_sdk_and_is_still_recorded(telemetry, client):
    with pytest.raises(json.JSONDecodeError):  # what the bare SDK raises too
        call(client, stream=True, extra_headers=faults("mcr-status-text"))

    span = telemetry.span()
    assert [dict(e.attributes) for e in span.events] == [{"text": "compacting context"}]


@pytest.fixture
def hiding(emulator):
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider,
                            hosts=[f"127.0.0.1:{emulator.port}"], hide_mcr_status=True)
    yield recorded
    instrumentor.uninstrument()


@pytest.mark.parametrize("frames", ["mcr-status", "mcr-status-text"])
def test_hide_mcr_status_keeps_frames_from_the_user_but_not_from_the_span(hiding, client, emulator, frames):
    chunks = call(client, stream=True, extra_headers=faults(frames))

    assert all(chunk.choices is not None for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    span = hiding.span()
    assert span.attributes["neuralwatt.mcr.status_events"] == (2 if frames == "mcr-status" else 1)
    assert_live_call(span, emulator.exchanges[-1])


async def test_hide_mcr_status_async(hiding, aclient, emulator):
    stream = await aclient.chat.completions.create(model=LONG, messages=MESSAGES, stream=True,
                                                   extra_headers=faults("mcr-status-text"))
    chunks = [chunk async for chunk in stream]

    assert all(chunk.choices is not None for chunk in chunks)
    assert hiding.span().attributes["neuralwatt.mcr.status_events"] == 1


def test_hide_mcr_status_from_the_environment(monkeypatch, emulator, client):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_HIDE_MCR_STATUS", "true")
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, hosts=[f"127.0.0.1:{emulator.port}"])
    try:
        chunks = call(client, stream=True, extra_headers=faults("mcr-status-text"))
    finally:
        instrumentor.uninstrument()
    assert all(chunk.choices is not None for chunk in chunks)


def test_repeated_energy_reports_the_last_on_the_span_each_as_an_event_counted_once(telemetry, client, emulator):
    call(client, model="openai/gpt-oss-20b", stream=True, extra_headers=faults("repeated-energy"))

    exchange = emulator.exchanges[-1]
    first, last = exchange.energy_reports
    span = telemetry.span()
    assert span.attributes["neuralwatt.energy.joules"] == last["energy_joules"]
    reports = [e for e in span.events if e.name == "neuralwatt.energy.report"]
    assert [e.attributes["neuralwatt.energy.joules"] for e in reports] == [first["energy_joules"],
                                                                          last["energy_joules"]]
    assert telemetry.total("neuralwatt.energy") == last["energy_joules"]
    assert telemetry.count("neuralwatt.energy") == 1


def test_a_malformed_later_report_never_replaces_a_valid_one(telemetry, client, emulator):
    call(client, model="openai/gpt-oss-20b", stream=True, extra_headers=faults("malformed-second-energy"))

    exchange = emulator.exchanges[-1]
    span = telemetry.span()
    assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]


def test_nothing_of_it_reaches_a_span_from_an_unlisted_host(telemetry, emulator):
    with openai.OpenAI(base_url=f"http://localhost:{emulator.port}/v1", api_key="k") as other:
        call(other, stream=True, extra_headers=CONVERSATION)

    assert telemetry.spans() == []
    assert telemetry.points("neuralwatt.quota.energy_remaining") == {}
    assert telemetry.total("neuralwatt.energy") == emulator.exchanges[-1].energy["energy_joules"]


def test_the_anthropic_api_keeps_headers_and_mcr_too(telemetry, emulator):
    import anthropic

    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", open_telemetry=False,
                             default_headers=CONVERSATION) as client:
        list(client.messages.create(model=LONG, max_tokens=64, messages=MESSAGES, stream=True))

    span = telemetry.span()
    assert span.attributes["gen_ai.conversation.id"] == "conversation-42"
    assert_live_call(span, emulator.exchanges[-1])


def test_hostile_headers_give_bounded_valid_attributes():
    import httpx2

    from opentelemetry_instrumentation_neuralwatt.wire.headers import MAX_HEADERS, ResponseHeaders

    headers = httpx2.Headers([
        ("x-energy-remaining", "nan"), ("x-energy-used", "1e400"), ("x-energy-included", "lots"),
        ("x-request-cost-usd", " 0.25 "), ("x-subscription-plan", "p" * 1000),
        ("x-mcr-stored-through", "123456789012345678901234"), ("x-mcr-weird.name", "1"),
        *[(f"x-mcr-extra-{i}", str(i)) for i in range(200)],
    ])
    read = ResponseHeaders(headers)

    assert "neuralwatt.quota.energy_remaining_kwh" not in read.attributes  # NaN is not a value
    assert "neuralwatt.quota.energy_used_kwh" not in read.attributes  # nor is infinity
    assert "neuralwatt.quota.energy_included_kwh" not in read.attributes
    assert read.cost == {"request_cost_usd": 0.25}
    assert read.attributes["neuralwatt.quota.subscription_plan"] == "p" * 256
    assert read.attributes["neuralwatt.mcr.stored_through"] == "123456789012345678901234"  # beyond int64: text
    assert "neuralwatt.mcr.weird.name" not in read.attributes
    assert len([k for k in read.attributes if k.startswith("neuralwatt.mcr.")]) == MAX_HEADERS


async def test_async_flex_stream_and_repeated_reports(telemetry, aclient, emulator):
    stream = await aclient.chat.completions.create(model=FLEX, messages=MESSAGES, stream=True,
                                                   extra_headers=faults("repeated-energy"))
    chunks = [chunk async for chunk in stream]

    exchange = emulator.exchanges[-1]
    assert [chunk.choices[0].delta.content for chunk in chunks[:3]] == [None, None, None]
    span = telemetry.span()
    assert_live_call(span, exchange, tier="flex")
    assert [e.attributes["neuralwatt.energy.joules"] for e in span.events if e.name == "neuralwatt.energy.report"] \
        == [report["energy_joules"] for report in exchange.energy_reports]
    assert telemetry.total("neuralwatt.energy") == exchange.energy["energy_joules"]


async def test_async_status_frames_are_recorded(telemetry, aclient, emulator):
    stream = await aclient.chat.completions.create(model=LONG, messages=MESSAGES, stream=True,
                                                   extra_headers=faults("mcr-status"))
    chunks = [chunk async for chunk in stream]

    assert [chunk.choices for chunk in chunks[:2]] == [None, None]
    span = telemetry.span()
    assert span.attributes["neuralwatt.mcr.status_events"] == 2
    assert_live_call(span, emulator.exchanges[-1])
