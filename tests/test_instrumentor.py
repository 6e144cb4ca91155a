"""The instrumentor's lifecycle and configuration: instrument/uninstrument, coexistence with
other wrappers, which endpoints are Neuralwatt, suppression, content capture and privacy."""

import functools
import inspect
import json
from importlib.metadata import entry_points

import openai
import pytest
import wrapt
from conftest import MESSAGES, MODEL, Telemetry, energy_attributes
from openai._streaming import SSEDecoder
from openai.resources.chat.completions import AsyncCompletions, Completions
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation, unwrap
from opentelemetry.metrics import NoOpMeter, NoOpMeterProvider

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

ORIGINAL_CREATE = Completions.__dict__["create"]
ORIGINAL_ASYNC_CREATE = AsyncCompletions.__dict__["create"]
ORIGINAL_DECODE = SSEDecoder.__dict__["decode"]


@pytest.fixture
def instrumentor():
    made = NeuralwattInstrumentor()
    yield made
    made.uninstrument()


def instrument(instrumentor, recorded, **kwargs):
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider, **kwargs)


def chat_and_stream(client):
    plain = client.chat.completions.create(model=MODEL, messages=MESSAGES).model_dump()
    chunks = [c.model_dump() for c in client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True})]
    return plain, chunks


def test_registered_for_zero_code_instrumentation():
    (entry_point,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "neuralwatt"]
    assert entry_point.load() is NeuralwattInstrumentor
    # Either SDK is enough; here both are installed, so both floors apply.
    assert NeuralwattInstrumentor().instrumentation_dependencies() == ("openai >= 1.40.0", "anthropic >= 2.14.0")


def test_instrument_twice_is_harmless(instrumentor, client, emulator):
    recorded = Telemetry()
    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])

    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert len(recorded.spans()) == 1
    assert recorded.count("neuralwatt.energy") == 1


def test_uninstrument_restores_the_sdk_exactly(instrumentor):
    recorded = Telemetry()
    with NeuralwattEmulator(seed=3) as emulator:
        with openai.OpenAI(base_url=emulator.base_url, api_key="k") as client:
            before = chat_and_stream(client)
    with NeuralwattEmulator(seed=3) as emulator:
        instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
        instrumentor.uninstrument()
        with openai.OpenAI(base_url=emulator.base_url, api_key="k") as client:
            after = chat_and_stream(client)

    assert Completions.__dict__["create"] is ORIGINAL_CREATE
    assert AsyncCompletions.__dict__["create"] is ORIGINAL_ASYNC_CREATE
    assert SSEDecoder.__dict__["decode"] is ORIGINAL_DECODE
    assert after == before
    assert recorded.spans() == []
    assert recorded.points("neuralwatt.energy") == {}


def test_patched_methods_keep_what_callers_inspect(instrumentor):
    from anthropic.resources.messages import Messages
    from openai._base_client import AsyncAPIClient
    from openai.lib.streaming.chat._completions import AsyncChatCompletionStream

    def methods():
        return [Completions.create, AsyncCompletions.create, AsyncAPIClient._process_response, Messages.create,
                AsyncChatCompletionStream.__stream__]

    kinds = [inspect.iscoroutinefunction, inspect.isasyncgenfunction]
    originals = methods()
    before = [[kind(method) for kind in kinds] + [inspect.signature(method)] for method in originals]
    assert before[2][0] and before[4][1]  # an `async def` and an async generator among them

    instrument(instrumentor, Telemetry())
    patched = methods()
    assert all(after is not method for after, method in zip(patched, originals, strict=True))  # ours is on
    # Frameworks pick the sync or async path, and build tool schemas, from these.
    assert [[kind(method) for kind in kinds] + [inspect.signature(method)] for method in patched] == before
    assert [(m.__name__, m.__doc__) for m in patched] == [(m.__name__, m.__doc__) for m in originals]


def test_bindings_cached_by_the_sdk_go_quiet_after_uninstrument(instrumentor, client, emulator):
    recorded = Telemetry()
    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
    raw_create = client.chat.completions.with_raw_response.create  # cached per client by the SDK
    instrumentor.uninstrument()

    raw_create(model=MODEL, messages=MESSAGES).parse()
    list(raw_create(model=MODEL, messages=MESSAGES, stream=True).parse())

    assert recorded.spans() == []
    assert recorded.points("neuralwatt.energy") == {}


def test_uninstrument_removes_only_our_wrapper(instrumentor, client, emulator):
    recorded = Telemetry()
    calls = []

    def other_instrumentation(wrapped, instance, args, kwargs):
        calls.append(kwargs["model"])
        return wrapped(*args, **kwargs)

    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
    wrapt.wrap_function_wrapper(Completions, "create", other_instrumentation)
    try:
        instrumentor.uninstrument()
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert calls == [MODEL]  # the other instrumentation still runs
        assert recorded.spans() == []  # ours is gone

        instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert calls == [MODEL, MODEL]
        assert len(recorded.spans()) == 1
    finally:
        instrumentor.uninstrument()
        unwrap(Completions, "create")
    assert Completions.__dict__["create"] is ORIGINAL_CREATE


def test_a_plain_decorator_put_on_after_ours_survives_our_uninstrument(instrumentor, client, emulator):
    """As sentry_sdk's OpenAI integration patches: `functools.wraps` over what it finds, which copies
    our function's attributes onto theirs. Our uninstrument leaves theirs, and ours in it goes quiet."""
    recorded = Telemetry()
    calls = []
    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
    ours = Completions.create

    @functools.wraps(ours)
    def later_instrumentation(*args, **kwargs):
        calls.append(kwargs["model"])
        return ours(*args, **kwargs)

    Completions.create = later_instrumentation
    try:
        instrumentor.uninstrument()
        assert Completions.__dict__["create"] is later_instrumentation
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert calls == [MODEL] and recorded.spans() == []  # theirs runs, ours is switched off

        instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])  # ours, on again inside theirs
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert calls == [MODEL, MODEL] and len(recorded.spans()) == 1
        assert Completions.__dict__["create"] is later_instrumentation
    finally:
        instrumentor.uninstrument()
        Completions.create = ORIGINAL_CREATE


def test_suppressed_instrumentation_records_nothing(telemetry, client):
    with suppress_instrumentation():
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    assert telemetry.spans() == []
    assert telemetry.points("neuralwatt.energy") == {}


def test_span_is_a_child_of_the_callers_span(telemetry, client):
    with telemetry.tracer_provider.get_tracer("app").start_as_current_span("handle request") as parent:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    ours = [s for s in telemetry.spans() if s.name.startswith("chat")][0]
    assert ours.parent.span_id == parent.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_other_endpoints_get_no_span_but_their_energy_is_counted(instrumentor, client, emulator):
    recorded = Telemetry()
    instrument(instrumentor, recorded)  # 127.0.0.1 is not a Neuralwatt host here

    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    assert recorded.spans() == []
    assert recorded.points("gen_ai.client.operation.duration") == {}
    assert recorded.count("neuralwatt.energy") == 2
    assert recorded.total("neuralwatt.energy") == pytest.approx(
        sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)


@pytest.mark.parametrize("variable, value", [
    ("OTEL_INSTRUMENTATION_NEURALWATT_HOSTS", "api.example.org, 127.0.0.1:{port}"),
    ("OTEL_INSTRUMENTATION_NEURALWATT_HOSTS", "127.0.0.1"),
    ("NEURALWATT_API_BASE", "http://127.0.0.1:{port}/v1"),
])
def test_neuralwatt_hosts_from_the_environment(instrumentor, client, emulator, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value.format(port=emulator.port))
    recorded = Telemetry()
    instrument(instrumentor, recorded)

    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert recorded.span().attributes["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"]


def test_a_host_on_another_port_is_not_neuralwatt(instrumentor, client, emulator):
    recorded = Telemetry()
    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port + 1}"])

    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert recorded.spans() == []


def test_message_content_is_not_recorded_by_default(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)

    attributes = telemetry.span().attributes
    assert "gen_ai.input.messages" not in attributes
    assert "gen_ai.output.messages" not in attributes
    assert not any("How much energy" in str(v) for v in attributes.values())


@pytest.mark.parametrize("streaming", [False, True])
def test_message_content_when_opted_in(instrumentor, client, emulator, monkeypatch, streaming):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    recorded = Telemetry()
    instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])

    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=streaming, max_tokens=3)
    if streaming:
        list(response)

    attributes = recorded.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": MESSAGES[0]["content"]}]}]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Energy is measured"}], "finish_reason": "length"}]


def test_keys_and_headers_are_never_recorded(telemetry, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"X-Custom": "header-value"})
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    for span in telemetry.spans():
        for key, value in span.attributes.items():
            assert "sk-test-secret" not in str(value)
            assert "header-value" not in str(value)
            assert "authorization" not in key.lower() and "header" not in key.lower()


class _FailingHistogram:
    def record(self, *args, **kwargs):
        raise RuntimeError("exporter exploded")


class _FailingMeter(NoOpMeter):
    def create_histogram(self, *args, **kwargs):
        return _FailingHistogram()


class _FailingMeterProvider(NoOpMeterProvider):
    def get_meter(self, *args, **kwargs):
        return _FailingMeter("failing")


def test_a_failure_inside_the_instrumentation_never_reaches_the_user(instrumentor, emulator):
    recorded = Telemetry()
    instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=_FailingMeterProvider(),
                            hosts=[f"127.0.0.1:{emulator.port}"])
    with openai.OpenAI(base_url=emulator.base_url, api_key="k") as client:
        response = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    assert response.id == emulator.exchanges[0].response_id
    assert len(chunks) == emulator.exchanges[1].usage["completion_tokens"] + 2


def test_a_wrapper_put_on_before_ours_survives_our_uninstrument(instrumentor, client, emulator):
    calls = []

    def earlier_instrumentation(wrapped, instance, args, kwargs):
        calls.append(kwargs["model"])
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(Completions, "create", earlier_instrumentation)
    try:
        recorded = Telemetry()
        instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        instrumentor.uninstrument()
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

        assert calls == [MODEL, MODEL]
        assert len(recorded.spans()) == 1
    finally:
        unwrap(Completions, "create")
    assert Completions.__dict__["create"] is ORIGINAL_CREATE


def test_a_no_op_tracer_does_not_hide_the_callers_span(instrumentor, client, emulator):
    from opentelemetry.trace import NoOpTracerProvider

    recorded = Telemetry()
    instrumentor.instrument(tracer_provider=NoOpTracerProvider(), meter_provider=recorded.meter_provider,
                            hosts=[f"127.0.0.1:{emulator.port}"])
    seen = []

    def inner_instrumentation(wrapped, instance, args, kwargs):  # e.g. an HTTP client instrumentation
        seen.append(trace.get_current_span())
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(openai.OpenAI, "request", inner_instrumentation)
    try:
        with recorded.tracer_provider.get_tracer("app").start_as_current_span("handle request") as parent:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        unwrap(openai.OpenAI, "request")

    assert [s.get_span_context() for s in seen] == [parent.get_span_context()]
    assert recorded.count("neuralwatt.energy") == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_raw_binding_cached_before_instrument_still_gets_its_span(emulator, stream):
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    with openai.OpenAI(base_url=emulator.base_url, api_key="k") as client:
        create = client.chat.completions.with_raw_response.create  # bound, and cached, before instrument()
        instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
        try:
            parsed = create(model=MODEL, messages=MESSAGES, stream=stream).parse()
            list(parsed) if stream else None
        finally:
            instrumentor.uninstrument()
        exchange = emulator.exchanges[-1]
        (span,) = recorded.spans()
        assert span.attributes["gen_ai.response.id"] == exchange.response_id
        assert {k: v for k, v in span.attributes.items() if k.startswith("neuralwatt.energy.")} == {
            k: v for k, v in energy_attributes(exchange.energy).items()}

        # After uninstrument(), nothing of ours runs on that binding.
        parsed = create(model=MODEL, messages=MESSAGES, stream=stream).parse()
        assert type(parsed).__module__.startswith("openai")
        list(parsed) if stream else None
    assert len(recorded.spans()) == 1
    assert recorded.count("neuralwatt.energy") == 1


async def test_an_async_raw_binding_cached_before_instrument_still_gets_its_span(emulator):
    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k") as client:
        create = client.chat.completions.with_raw_response.create
        instrument(instrumentor, recorded, hosts=[f"127.0.0.1:{emulator.port}"])
        try:
            raw = await create(model=MODEL, messages=MESSAGES, stream=True)
            parsed = raw.parse()  # a coroutine for some SDK releases, the stream for others
            parsed = await parsed if inspect.isawaitable(parsed) else parsed
            [chunk async for chunk in parsed]
        finally:
            instrumentor.uninstrument()

    exchange = emulator.exchanges[-1]
    (span,) = recorded.spans()
    assert span.attributes["neuralwatt.energy.joules"] == exchange.energy["energy_joules"]


def test_the_quota_gauge_follows_the_last_response_after_instrumenting_again(emulator, client):
    """The same MeterProvider across uninstrument()/instrument(): the provider hands back its first
    gauge, which must read what the current instrumentation saw, not what the first one did."""
    from conftest import Telemetry

    recorded = Telemetry()
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    seen = []
    for _ in range(2):
        instrumentor.instrument(tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider,
                                hosts=[f"127.0.0.1:{emulator.port}"])
        try:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        finally:
            instrumentor.uninstrument()
        (point,) = recorded.points("neuralwatt.quota.energy_remaining").values()
        seen.append((point.value, float(emulator.exchanges[-1].response_headers["x-energy-remaining"]),
                     recorded.spans()[-1].attributes["neuralwatt.quota.energy_remaining_kwh"]))
    assert seen[0][1] != seen[1][1]  # the server's value changed between the two
    for gauge, sent, on_span in seen:
        assert gauge == sent == on_span


def test_instrument_uninstrument_cycles_keep_nothing(emulator, tmp_path):
    """Per cycle: no meter or gauges left on the global proxy provider, no post-import hook added
    (anthropic not imported yet)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import gc, sys, tracemalloc, wrapt
        from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
        assert "anthropic" not in sys.modules
        instrumentor = NeuralwattInstrumentor()
        def cycles(n):
            for _ in range(n):
                instrumentor.instrument(hosts=["127.0.0.1:{emulator.port}"])
                instrumentor.uninstrument()
        cycles(50)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        cycles(500)
        gc.collect()
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
        hooks = len(wrapt.importer._post_import_hooks.get("anthropic") or ())
        print(grown, hooks)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    grown, hooks = map(int, done.stdout.split())
    assert hooks == 1
    assert grown < 100_000, grown  # 500 cycles were ~1.3 MB (2.6 KB each)
