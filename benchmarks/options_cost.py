"""What roll-up, per-tenant attribution and `measure()` cost a call, switched off and on.

    python benchmarks/options_cost.py

Switched off (the default), a call pays for three checks: whether a `measure()` block or collector
is open (one OpenTelemetry context look-up), whether baggage keys are named, whether roll-up is on.
They are timed in isolation (timeit), next to a whole call. Then whole calls over canned bytes
(CPU time, alternating pairs, GC off, median of the pair ratios) with the real SDK: instrumented
with the options off, against instrumented with them on (roll-up with a parent span, two baggage
keys present, inside a `measure()` block).
"""

from __future__ import annotations

import json
import statistics
import timeit

from opentelemetry import baggage, context, trace
from overhead import MESSAGES, MODEL, mock_client, sdk_providers
from overhead import cpu_seconds as cpu

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor, measure
from opentelemetry_instrumentation_neuralwatt.call.begin import state
from opentelemetry_instrumentation_neuralwatt.telemetry import blocks as collect


def main() -> None:
    client = mock_client(10)
    batch = 100

    def calls():
        for _ in range(batch):
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4)

    instrumentor = NeuralwattInstrumentor()
    off = {**sdk_providers(), "hosts": []}
    on_providers = sdk_providers()
    on = {**on_providers, "hosts": [], "rollup": True, "baggage_keys": ["tenant.id", "enduser.id"]}
    parent = on_providers["tracer_provider"].get_tracer("app").start_span("handle request")
    on_context = baggage.set_baggage("enduser.id", "ada", baggage.set_baggage("tenant.id", "acme"))
    on_context = context.set_value("app", "x", on_context)

    def with_options_on():
        token = context.attach(on_context)
        try:
            with measure(), trace.use_span(parent, end_on_exit=False):
                calls()
        finally:
            context.detach(token)

    instrumentor.instrument(**off)
    telemetry = state.telemetry
    checks = timeit.timeit(lambda: (collect.current(), telemetry.attribution is not None, telemetry.rollup is not None),
                           number=200_000) / 200_000
    calls()
    whole = statistics.median(cpu(calls) for _ in range(5)) / batch
    instrumentor.uninstrument()

    ratios = []
    for pair in range(15):
        timing = {}
        for options_on in ((False, True) if pair % 2 == 0 else (True, False)):
            instrumentor.instrument(**(on if options_on else off))
            run = with_options_on if options_on else calls
            run()
            timing[options_on] = cpu(run)
            instrumentor.uninstrument()
        ratios.append(timing[True] / timing[False])
    print(json.dumps({
        "checks_when_off_us": checks * 1e6, "whole_call_us": whole * 1e6,
        "checks_share_of_a_call": checks / whole,
        "options_on_vs_off_median_ratio": statistics.median(ratios),
        "quartiles": statistics.quantiles(ratios, n=4)[::2],
    }))


if __name__ == "__main__":
    main()
