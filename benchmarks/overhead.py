"""Client CPU time per request, the bare SDK against one instrumentation, in alternating pairs.

Run by `benchmarks/run.py` inside the virtual environment of the instrumentation under test; it
prints one JSON object. CPU time drifts by tens of percent over seconds here, so bare and
instrumented runs alternate (swapping the SDK attributes instrument() patched, untimed, GC off)
and each cell's result is the median of its pair ratios.

    python benchmarks/overhead.py --instrumentation ours-sdk --api chat --cells stream:canned whole:canned
    python benchmarks/overhead.py --instrumentation genai-anthropic --api messages --sdk-tracing on \\
        --cells whole:loopback --base-url http://127.0.0.1:8123/v1

`--api` picks the path: openai chat completions, the openai Responses API, or anthropic Messages.
For Messages, `--sdk-tracing on` gives the anthropic client its own tracing on the instrumentation's
tracer provider (so its span is the one an instrumentation may enrich), `off` switches it off
(`open_telemetry=False`). A cell is a mode over a transport: `stream` (one stream per timed run) or
`whole` (a batch of non-streaming calls per timed run), over `canned` bytes (an httpx
MockTransport: no network, so the client's own work is all there is) or `loopback` HTTP to the
emulator at --base-url (in its own process: its CPU is not counted). The cells of one process
share one instrumentation, instrumented once; a cell that fails reports its error, the others run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import statistics
import sys
import time
import traceback
import types
from importlib.metadata import PackageNotFoundError, version

import openai
from canned import LIVE_HEADERS, MODEL, bodies, numbered
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

MESSAGES = [{"role": "user", "content": "benchmark"}]
NEURALWATT = "https://api.neuralwatt.com/v1"
CELLS = ("stream:canned", "whole:canned", "stream:loopback", "whole:loopback")
# The peer instrumentations: name -> (distribution, module, instrumentor class, the SDK it instruments).
PEERS = {
    "genai-openai": ("opentelemetry-instrumentation-genai-openai", "opentelemetry.instrumentation.genai.openai",
                     "OpenAIInstrumentor", "openai"),
    "openllmetry-openai": ("opentelemetry-instrumentation-openai", "opentelemetry.instrumentation.openai",
                           "OpenAIInstrumentor", "openai"),
    "openinference-openai": ("openinference-instrumentation-openai", "openinference.instrumentation.openai",
                             "OpenAIInstrumentor", "openai"),
    "genai-anthropic": ("opentelemetry-instrumentation-genai-anthropic",
                        "opentelemetry.instrumentation.genai.anthropic", "AnthropicInstrumentor", "anthropic"),
    "openllmetry-anthropic": ("opentelemetry-instrumentation-anthropic", "opentelemetry.instrumentation.anthropic",
                              "AnthropicInstrumentor", "anthropic"),
    "openinference-anthropic": ("openinference-instrumentation-anthropic",
                                "openinference.instrumentation.anthropic", "AnthropicInstrumentor", "anthropic"),
}
OURS = ("ours-noop", "ours-sdk", "contract-floor")
ANSWERS = itertools.count(1)  # numbers the canned answers' response ids (canned.numbered)


# --- Clients: the real SDKs, over canned bytes or over loopback HTTP ---------------------------------

def canned_http_client(api: str, chunks: int, httpx):
    """An httpx client whose transport answers every request with canned Neuralwatt bytes."""
    stream_body, json_body = bodies(api, chunks)
    count = ANSWERS  # one count for every client: ids stay unique across the cells of a process

    def answer(request):
        # openai < 1.50 writes JSON with a space after the colon.
        if b'"stream":true' in request.content or b'"stream": true' in request.content:
            return httpx.Response(200, content=numbered(stream_body, next(count)),
                                  headers={"content-type": "text/event-stream", **LIVE_HEADERS})
        return httpx.Response(200, content=numbered(json_body, next(count)),
                              headers={"content-type": "application/json", **LIVE_HEADERS})

    return httpx.Client(transport=httpx.MockTransport(answer))


def make_client(api: str, chunks: int = 1000, base_url: str | None = None, tracing=False):
    """A real SDK client for one API: over canned bytes, or (with base_url) over loopback HTTP.
    `tracing` is anthropic's `open_telemetry` option (False: its own tracing off)."""
    if api == "messages":
        import anthropic
        import httpx2

        # anthropic's base URL is the host: the SDK adds /v1 itself.
        options = {"api_key": "k", "max_retries": 0, "open_telemetry": tracing}
        if base_url:
            return anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), **options)
        return anthropic.Anthropic(base_url=NEURALWATT[:-3], http_client=canned_http_client(api, chunks, httpx2),
                                   **options)
    if base_url:
        return openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
    # openai 3.x runs on httpx2, 1.x and 2.x on httpx (httpx2 may be there too, for anthropic).
    httpx = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")
    return openai.OpenAI(base_url=NEURALWATT, api_key="k", max_retries=0,
                         http_client=canned_http_client(api, chunks, httpx))


def mock_client(chunks: int, api: str = "chat"):
    """An openai client over canned bytes (memory.py, options_cost.py, callgrind_target.py)."""
    return make_client(api, chunks)


def mock_anthropic_client(chunks: int, tracing=False):
    return make_client("messages", chunks, tracing=tracing)


def workload(client, mode: str, batch: int, api: str = "chat"):
    """One timed run: a whole stream read to its end, or `batch` non-streaming calls."""
    if api == "responses":
        def call(stream):
            return (client.responses.create(model=MODEL, input="benchmark", stream=True) if stream
                    else client.responses.create(model=MODEL, input="benchmark", max_output_tokens=16))
    elif api == "messages":
        def call(stream):
            return (client.messages.create(model=MODEL, messages=MESSAGES, max_tokens=1024, stream=True) if stream
                    else client.messages.create(model=MODEL, messages=MESSAGES, max_tokens=4))
    else:
        def call(stream):
            return (client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True}) if stream
                    else client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4))
    if mode == "stream":
        def run():
            for _ in call(True):
                pass
    else:
        def run():
            for _ in range(batch):
                call(False)
    return run


# --- The SDK setup: the same for every row ------------------------------------------------------------

class Witness(SpanExporter):
    """Drops every span. Only while `recording` (an untimed look, never while timing) it keeps what
    shows that an instrumentation saw a call: each span's scope, name and attribute names."""

    def __init__(self):
        self.recording, self.seen = False, []

    def export(self, spans):
        if self.recording:
            self.seen += [(span.instrumentation_scope.name if span.instrumentation_scope else "", span.name,
                           sorted(span.attributes or ())) for span in spans]
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


class Probe:
    """The real OpenTelemetry SDK as every SDK row gets it: spans through a SimpleSpanProcessor to an
    exporter that drops them, metrics to an in-memory reader nobody collects while timing. No batch
    thread: its export thread shares the process's CPU time and moved the SDK columns by ±0.15
    between runs. `look` runs a call untimed and tells what it left in the SDK."""

    def __init__(self):
        self.exporter, self.reader = Witness(), InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.providers = {"tracer_provider": tracer_provider,
                          "meter_provider": MeterProvider(metric_readers=[self.reader])}

    def _points(self) -> list:
        data = self.reader.get_metrics_data()
        return sorted((metric.name, str(sorted(point.attributes.items())),
                       getattr(point, "count", None) or getattr(point, "value", None))
                      for resource in (data.resource_metrics if data else ())
                      for scope in resource.scope_metrics for metric in scope.metrics
                      for point in metric.data.data_points)

    def look(self, run) -> tuple[list, bool]:
        """(the spans one run ended, whether it recorded metric points)."""
        before = self._points()
        self.exporter.recording = True
        try:
            run()
        finally:
            self.exporter.recording = False
        spans, self.exporter.seen = self.exporter.seen, []
        return spans, self._points() != before


def sdk_providers() -> dict:
    """The benchmark's SDK setup (see Probe), for the other benchmarks."""
    return Probe().providers


def noop_providers() -> dict:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    return {"tracer_provider": NoOpTracerProvider(), "meter_provider": NoOpMeterProvider()}


def instrumentor(name: str, hosts: list, api: str = "chat", sdk_tracing: bool = False, providers=None):
    """(instrumentor, instrument() kwargs) for a name; peers in their default configuration, every
    row but ours-noop on the same SDK setup."""
    providers = providers or (noop_providers() if name == "ours-noop" else sdk_providers())
    if name in ("ours-noop", "ours-sdk"):
        from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
        return NeuralwattInstrumentor(), {**providers, "hosts": hosts}
    if name == "contract-floor":
        from contract_floor import ContractFloor
        return ContractFloor(api, sdk_tracing), providers
    if name not in PEERS:
        raise SystemExit(f"unknown instrumentation {name}")
    _, module, class_name, sdk = PEERS[name]
    if (sdk == "anthropic") != (api == "messages"):
        raise SystemExit(f"{name} instruments the {sdk} SDK, not --api {api}")
    return getattr(importlib.import_module(module), class_name)(), providers


def distribution(name: str) -> str:
    return {"ours-noop": "opentelemetry-instrumentation-neuralwatt", "ours-sdk": "opentelemetry-instrumentation-neuralwatt",
            "contract-floor": "opentelemetry-instrumentation-neuralwatt"}.get(name) or PEERS[name][0]


def versions(name: str) -> dict:
    found = {}
    for package in ("openai", "anthropic", "opentelemetry-sdk", distribution(name)):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


# --- Alternating bare and instrumented runs -----------------------------------------------------------

def cpu_seconds(run) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        run()
        return time.process_time() - start
    finally:
        gc.enable()


_MISSING = object()


def sdk_attributes() -> dict:
    """(owner, name) -> value for every global of the loaded SDK modules (openai, anthropic) and
    every attribute of their classes: all an instrumentation can patch."""
    found = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name.split(".")[0] not in ("openai", "anthropic"):
            continue
        for name, value in list(vars(module).items()):
            found[(module, name)] = value
            # type(), not isinstance(): the SDK's lazy proxies (numpy, pandas) import on touch.
            if issubclass(type(value), type) and value.__module__ == module_name:
                for class_name, class_value in list(vars(value).items()):
                    found[(value, class_name)] = class_value
    return found


def is_wrapper(value) -> bool:
    """A wrapt wrapper: how instrumentations patch, dunders included (genai-anthropic wraps
    `ResponseContextManager.__exit__`)."""
    try:
        import wrapt
    except ImportError:
        return False
    return issubclass(type(value), wrapt.ObjectProxy)


class PatchSwitch:
    """Instrument once, note what that changed in the SDK, then swap exactly those attributes.

    The bare runs use the pristine SDK even when an instrumentation's uninstrument() leaves a
    wrapper behind (measured: OpenLLMetry 0.62.4 leaves `Completions.create` wrapped, still
    doing its work, so toggling with uninstrument() would time it against itself)."""

    def __init__(self, made, options, run):
        run()  # import everything the workload needs before the pristine picture
        self.made, self.pristine = made, sdk_attributes()
        made.instrument(**options)
        owners = {id(owner) for owner, _ in self.pristine}
        # Patches replace functions and methods. Lazily imported submodules and classes, and
        # pydantic's lazily built class internals (dunder names), are not patches.
        self.changes = {key: (self.pristine.get(key, _MISSING), value)
                        for key, value in sdk_attributes().items()
                        if self.pristine.get(key, _MISSING) is not value and id(key[0]) in owners
                        and (not key[1].startswith("__") or is_wrapper(value))
                        and not issubclass(type(value), (type, types.ModuleType))}
        if not self.changes:
            raise SystemExit(f"{made!r} patched nothing in the SDK")

    def set_state(self, instrumented: bool) -> None:
        for (owner, name), (before, patched) in self.changes.items():
            value = patched if instrumented else before
            if value is not _MISSING:
                setattr(owner, name, value)
            elif name in vars(owner):
                delattr(owner, name)

    def uninstrument_restores_sdk(self) -> bool:
        """Whether the instrumentation's own uninstrument() puts back every attribute it changed."""
        self.set_state(True)
        self.made.uninstrument()
        after = sdk_attributes()
        return all(after.get(key, _MISSING) is before for key, (before, _) in self.changes.items())


def alternate(set_state, run, pairs: int, per_request: int) -> dict:
    """Bare and instrumented runs in alternating pairs (the order flips every pair)."""
    for instrumented in (False, True, False, True):  # warm up both paths
        set_state(instrumented)
        run()
    # What exists now (modules, the SDKs' classes and models) moves out of the collector's reach, so
    # each timed run's gc.collect() walks only what the runs made: with anthropic's types loaded a
    # full collection takes 0.17 s, which a measurement would otherwise pay 30 times a cell.
    gc.collect()
    gc.freeze()
    ratios, bare, instrumented, extra = [], [], [], []
    for pair in range(pairs):
        timing = {}
        for state in ((False, True) if pair % 2 == 0 else (True, False)):
            set_state(state)
            timing[state] = cpu_seconds(run)
        bare.append(timing[False])
        instrumented.append(timing[True])
        ratios.append(timing[True] / timing[False])
        extra.append((timing[True] - timing[False]) / per_request)
    return {"ratios": ratios, "median_ratio": statistics.median(ratios),
            "bare_ms": 1000 * statistics.median(bare) / per_request,
            "instrumented_ms": 1000 * statistics.median(instrumented) / per_request,
            # What the instrumentation adds to one request: each pair's difference, and their median.
            "extras_us": [1e6 * value for value in extra], "extra_us": 1e6 * statistics.median(extra)}


def telemetry(probe: Probe | None, set_state, once) -> dict | None:
    """What one instrumented call leaves in the SDK beyond the bare call's (anthropic's own span):
    an instrumentation that leaves nothing does not instrument this path, whatever its time."""
    if probe is None:  # no-op providers: nothing to look at
        return None
    set_state(False)
    bare_spans, _ = probe.look(once)
    set_state(True)
    spans, metrics = probe.look(once)
    return {"records": spans != bare_spans or metrics, "spans": len(spans),
            "energy_on_span": any("neuralwatt.energy.joules" in names for _, _, names in spans)}


def measure(args) -> dict:
    probe = None if args.instrumentation == "ours-noop" else Probe()
    providers = probe.providers if probe else noop_providers()
    # The emulators' addresses: one whose whole answers finish short, one that streams long answers.
    urls = {"whole:loopback": args.base_url, "stream:loopback": args.stream_base_url or args.base_url}
    hosts = sorted({url for url in urls.values() if url})
    made, options = instrumentor(args.instrumentation, hosts, args.api, args.sdk_tracing == "on", providers)
    tracing = {"tracer_provider": providers["tracer_provider"]} if args.sdk_tracing == "on" else False
    cells = {}
    for cell in args.cells:
        mode, transport = cell.split(":")
        if transport == "loopback" and not urls[cell]:
            raise SystemExit(f"{cell} needs --base-url (the emulator)")
        client = make_client(args.api, args.chunks, urls.get(cell), tracing)
        batch = args.batch if transport == "canned" else args.loopback_batch
        cells[cell] = (workload(client, mode, batch, args.api), workload(client, mode, 1, args.api),
                       1 if mode == "stream" else batch)

    switch = PatchSwitch(made, options, lambda: [once() for _, once, _ in cells.values()])
    results = {}
    for cell, (run, once, per_request) in cells.items():
        try:
            results[cell] = {"telemetry": telemetry(probe, switch.set_state, once),
                             **alternate(switch.set_state, run, args.pairs, per_request)}
        except Exception as error:  # a failing cell is a finding: the others still run
            traceback.print_exc()
            results[cell] = {"error": f"{type(error).__name__}: {error}"[:200]}
    return {"instrumentation": args.instrumentation, "api": args.api, "sdk_tracing": args.sdk_tracing,
            "versions": versions(args.instrumentation), "pairs": args.pairs,
            "uninstrument_restores_sdk": switch.uninstrument_restores_sdk(), "cells": results}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instrumentation", required=True, choices=[*OURS, *PEERS])
    parser.add_argument("--api", choices=["chat", "responses", "messages"], default="chat",
                        help="openai chat completions, the openai Responses API, or anthropic Messages")
    parser.add_argument("--sdk-tracing", choices=["on", "off"], default="off",
                        help="anthropic's own tracing (--api messages): on, on the benchmark's tracer provider")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=["stream:canned"], help="mode:transport")
    parser.add_argument("--base-url", help="the emulator's base URL (for loopback cells)")
    parser.add_argument("--stream-base-url", help="another emulator's, for stream:loopback (default: --base-url)")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per canned stream")
    parser.add_argument("--batch", type=int, default=50, help="non-streaming calls per timed run, canned")
    parser.add_argument("--loopback-batch", type=int, default=20, help="non-streaming calls per timed run, loopback")
    print(json.dumps(measure(parser.parse_args())))


if __name__ == "__main__":
    main()
