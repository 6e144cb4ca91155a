"""Energy where decisions are made: `neuralwatt.total.*` rolled up onto the application's own spans
(opt-in), and per-tenant attribution from W3C baggage on spans and `neuralwatt.*` points (opt-in,
bounded in distinct values)."""

import pytest
from conftest import MESSAGES, MODEL
from opentelemetry import baggage, context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.trace import SpanKind

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

TOTALS = ("neuralwatt.total.joules", "neuralwatt.total.requests", "neuralwatt.total.cost_usd",
          "neuralwatt.total.carbon_g_co2eq")


@pytest.fixture
def instrument(instrument_afresh):
    """instrument(**options) with fresh in-memory providers (conftest.py)."""
    return instrument_afresh


def chat(client):
    return client.chat.completions.create(model=MODEL, messages=MESSAGES)


def sums(exchanges):
    return {"neuralwatt.total.joules": pytest.approx(sum(e.energy["energy_joules"] for e in exchanges), rel=1e-12),
            "neuralwatt.total.requests": len(exchanges),
            "neuralwatt.total.cost_usd": pytest.approx(sum(e.cost["request_cost_usd"] for e in exchanges), rel=1e-12),
            "neuralwatt.total.carbon_g_co2eq": pytest.approx(sum(e.energy["carbon_g_co2eq"] for e in exchanges),
                                                             rel=1e-12)}


def app_spans(recorded):
    return {s.name: s for s in recorded.spans() if not s.name.startswith("chat ")}


def test_every_ancestor_span_gets_the_sums_of_the_calls_beneath_it(instrument, client, emulator):
    recorded = instrument(rollup=True)
    tracer = recorded.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request", kind=SpanKind.SERVER):
        chat(client)
        with tracer.start_as_current_span("agent run"):
            chat(client)
            list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
        with tracer.start_as_current_span("render"):  # no call beneath it
            pass

    spans = app_spans(recorded)
    handle, agent = spans["handle request"], spans["agent run"]
    assert {k: handle.attributes[k] for k in TOTALS} == sums(emulator.exchanges)
    assert {k: agent.attributes[k] for k in TOTALS} == sums(emulator.exchanges[1:])
    assert not any(k in spans["render"].attributes for k in TOTALS)
    calls = [s for s in recorded.spans() if s.name.startswith("chat ")]
    assert len(calls) == 3 and not any(k in s.attributes for s in calls for k in TOTALS)


def test_roll_up_is_off_by_default(instrument, client):
    recorded = instrument()
    with recorded.tracer_provider.get_tracer("app").start_as_current_span("handle request"):
        chat(client)
    assert not any(k in app_spans(recorded)["handle request"].attributes for k in TOTALS)


def test_roll_up_from_the_environment(instrument, client, emulator, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_ROLLUP", "true")
    recorded = instrument()
    with recorded.tracer_provider.get_tracer("app").start_as_current_span("handle request"):
        chat(client)
    assert app_spans(recorded)["handle request"].attributes["neuralwatt.total.joules"] == \
        emulator.exchanges[0].energy["energy_joules"]


def serve(headers, work):
    """The receiving side of a request: the W3C baggage header extracted into the context."""
    token = context.attach(W3CBaggagePropagator().extract(headers))
    try:
        return work()
    finally:
        context.detach(token)


def from_tenant(tenant: str, user: str | None = None) -> dict:
    """The sending side: baggage set and injected into the outgoing request's headers."""
    ctx = baggage.set_baggage("tenant.id", tenant)
    if user is not None:
        ctx = baggage.set_baggage("enduser.id", user, ctx)
    headers: dict = {}
    W3CBaggagePropagator().inject(headers, ctx)
    return headers


def test_baggage_entries_go_on_the_span_and_split_the_energy_points(instrument, client, emulator):
    recorded = instrument(baggage_keys=["tenant.id", "enduser.id"])
    serve(from_tenant("acme", "ada"), lambda: chat(client))
    serve(from_tenant("acme"), lambda: chat(client))
    serve(from_tenant("globex", "grace"), lambda: chat(client))
    chat(client)  # no baggage: no attribute

    spans = recorded.spans()
    assert [s.attributes.get("tenant.id") for s in spans] == ["acme", "acme", "globex", None]
    assert [s.attributes.get("enduser.id") for s in spans] == ["ada", None, "grace", None]
    by_tenant: dict = {}
    for attributes, point in recorded.points("neuralwatt.energy").items():
        by_tenant[dict(attributes).get("tenant.id")] = by_tenant.get(dict(attributes).get("tenant.id"), 0) + point.sum
    joules = [e.energy["energy_joules"] for e in emulator.exchanges]
    assert by_tenant == {"acme": pytest.approx(joules[0] + joules[1], rel=1e-12), "globex": joules[2], None: joules[3]}
    # The GenAI points are not split by tenant.
    assert not any("tenant.id" in dict(a) for a in recorded.points("gen_ai.client.operation.duration"))


def test_distinct_values_are_bounded_per_key(instrument, client, emulator):
    recorded = instrument(baggage_keys=["tenant.id"])
    for n in range(150):
        serve(from_tenant(f"tenant-{n:03d}"), lambda: chat(client))

    points = {dict(a)["tenant.id"]: p for a, p in recorded.points("neuralwatt.energy").items()}
    assert len(points) == 101  # 100 tenants, then everyone else as one
    assert points["_other"].count == 50
    assert sorted(t for t in points if t != "_other") == [f"tenant-{n:03d}" for n in range(100)]
    assert sum(p.sum for p in points.values()) == pytest.approx(
        sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)
    assert [s.attributes["tenant.id"] for s in recorded.spans()][99:101] == ["tenant-099", "_other"]


def test_the_bound_and_keys_from_the_environment_and_values_are_cleaned(instrument, client, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_KEYS", " tenant.id , enduser.id ")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_BAGGAGE_MAX_VALUES", "2")
    recorded = instrument()
    for tenant in ("a", "b", "c", "a"):
        serve(from_tenant(tenant), lambda: chat(client))
    serve(from_tenant("x" * 300), lambda: chat(client))
    token = context.attach(baggage.set_baggage("tenant.id", " line\nbreak\t "))
    try:
        chat(client)
    finally:
        context.detach(token)
    assert [s.attributes["tenant.id"] for s in recorded.spans()] == ["a", "b", "_other", "a", "_other", "_other"]


def test_mistaken_baggage_arguments_are_refused(instrument):
    with pytest.raises(TypeError):
        instrument(baggage_keys=[3])
    with pytest.raises(ValueError):
        instrument(baggage_keys=["tenant.id"], baggage_max_values=0)


def test_roll_up_and_tenants_together_beside_anthropic_sdk_tracing(instrument, emulator):
    """The SDK's own span (adopted) takes part in the roll-up and carries the tenant."""
    import anthropic

    recorded = instrument(rollup=True, baggage_keys=["tenant.id"])
    client = anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", max_retries=0,
                                 open_telemetry={"tracer_provider": recorded.tracer_provider})
    with recorded.tracer_provider.get_tracer("app").start_as_current_span("handle request"):
        serve(from_tenant("acme"), lambda: client.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES))
    (sdk_span,) = [s for s in recorded.spans() if s.instrumentation_scope.name == "com.anthropic.sdk.python"]
    assert sdk_span.attributes["tenant.id"] == "acme"
    assert app_spans(recorded)["handle request"].attributes["neuralwatt.total.joules"] == \
        emulator.exchanges[0].energy["energy_joules"]


# -- roll-up under hostile and careless use --

def test_a_forged_traceparent_never_reaches_another_traces_spans(instrument, client, emulator):
    """A request arrives naming, as its parent, a span id that is open in another trace here."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    recorded = instrument(rollup=True)
    tracer = recorded.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("victim request"):
        with tracer.start_as_current_span("victim step") as step:
            forged = {"traceparent": f"00-{'ab' * 16}-{step.get_span_context().span_id:016x}-01"}
            ctx = TraceContextTextMapPropagator().extract(forged)
            with tracer.start_as_current_span("POST /forged", context=ctx, kind=SpanKind.SERVER):
                chat(client)
    spans = app_spans(recorded)
    assert spans["POST /forged"].attributes["neuralwatt.total.joules"] == emulator.exchanges[0].energy["energy_joules"]
    for name in ("victim request", "victim step"):
        assert not any(k in spans[name].attributes for k in TOTALS), name


def test_a_middle_span_that_ends_first_does_not_hide_the_spans_above_it(instrument, client, emulator):
    recorded = instrument(rollup=True)
    tracer = recorded.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("step"):
            stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        list(stream)  # read after `step` ended, inside `request`
    spans = app_spans(recorded)
    assert {k: spans["request"].attributes[k] for k in TOTALS} == sums(emulator.exchanges)
    assert not any(k in spans["step"].attributes for k in TOTALS)  # it ended before the call did


def test_spans_dropped_unended_are_not_kept_alive(instrument):
    import gc
    import tracemalloc
    import weakref

    recorded = instrument(rollup=True)
    tracer = recorded.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request"):
        probe = tracer.start_span("dropped")
        alive = weakref.ref(probe)
        del probe
        gc.collect()
        assert alive() is None
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(20_000):
            tracer.start_span("dropped")  # started, never ended, dropped
        gc.collect()
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
    assert grown < 1_000_000, grown  # 20,000 spans were ~60 MB when the processor kept them


def test_the_spans_remembered_at_once_are_bounded_with_a_warning(instrument, client, emulator, monkeypatch, caplog):
    from opentelemetry_instrumentation_neuralwatt.telemetry import rollup

    monkeypatch.setattr(rollup, "MAX_REMEMBERED", 3)
    recorded = instrument(rollup=True)
    tracer = recorded.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request"):  # a root: not remembered itself
        kept = [tracer.start_span(f"open {n}") for n in range(3)]  # fills what is remembered
        with tracer.start_as_current_span("level 1"):
            with tracer.start_as_current_span("level 2"):  # not remembered: its calls stop at it
                chat(client)
        for span in kept:
            span.end()
        del kept
        with tracer.start_as_current_span("later"):  # room again: remembered
            chat(client)
    spans = app_spans(recorded)
    assert not any(k in spans[name].attributes for name in ("level 1", "level 2") for k in TOTALS)
    assert spans["later"].attributes["neuralwatt.total.joules"] == emulator.exchanges[1].energy["energy_joules"]
    warnings = [r.getMessage() for r in caplog.records if "roll-up remembers at most 3 live spans" in r.getMessage()]
    assert len(warnings) == 1


def test_a_new_tracer_provider_always_gets_roll_up(client, emulator):
    """Per-provider instrument/uninstrument in a loop: a freed provider's id is reused by the next
    (by most of them), and each new provider must get its own roll-up."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    missed, ids = [], set()
    for n in range(60):
        provider = TracerProvider(shutdown_on_exit=False)  # nothing else keeps it alive
        ids.add(id(provider))
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        instrumentor.instrument(tracer_provider=provider, rollup=True, hosts=[f"127.0.0.1:{emulator.port}"])
        try:
            with provider.get_tracer("app").start_as_current_span("request"):
                chat(client)
        finally:
            instrumentor.uninstrument()
        (request,) = [s for s in exporter.get_finished_spans() if s.name == "request"]
        if request.attributes.get("neuralwatt.total.requests") != 1:
            missed.append(n)
        del provider
    assert len(ids) < 30  # ids were reused: the case that went wrong
    assert missed == []


def test_a_tenant_named_like_the_overflow_bucket_is_not_mistaken_for_it(instrument, client, emulator):
    recorded = instrument(baggage_keys=["tenant.id"], baggage_max_values=1)
    serve(from_tenant("_other"), lambda: chat(client))  # a real tenant, literally "_other"
    serve(from_tenant("acme"), lambda: chat(client))  # beyond the bound: the overflow bucket
    assert [s.attributes["tenant.id"] for s in recorded.spans()] == ["__other", "_other"]
    points = {dict(a)["tenant.id"]: p.sum for a, p in recorded.points("neuralwatt.energy").items()}
    joules = [e.energy["energy_joules"] for e in emulator.exchanges]
    assert points == {"__other": joules[0], "_other": joules[1]}


def test_tenant_values_times_models_stay_bounded_on_the_energy_points(instrument, client, emulator, monkeypatch):
    """Every key bounded alone still multiplies: their sets with the other labels are bounded too."""
    from conftest import faults

    from opentelemetry_instrumentation_neuralwatt.telemetry import metric_points as telemetry

    monkeypatch.setattr(telemetry, "MAX_TENANT_SETS", 4)
    recorded = instrument(baggage_keys=["tenant.id"])
    for n in range(6):
        serve(from_tenant(f"t{n}"), lambda: client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers=faults("invented-model")))
    points = [dict(a) for a in recorded.points("neuralwatt.energy")]
    assert len(points) == 5  # four sets, then one overflow set for what others chose
    assert sorted(a["tenant.id"] for a in points) == ["_other", "t0", "t1", "t2", "t3"]
    (overflow,) = [a for a in points if a["tenant.id"] == "_other"]
    assert overflow["gen_ai.response.model"] == "_other" and overflow["gen_ai.request.model"] == MODEL
    assert recorded.total("neuralwatt.energy") == pytest.approx(
        sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)
