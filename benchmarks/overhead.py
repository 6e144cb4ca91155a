"""Client CPU time per request, bare `openai` against one instrumentation, in alternating pairs.

Run by `benchmarks/run.py` inside the virtual environment of the instrumentation under test; it
prints one JSON object. CPU time drifts by tens of percent over seconds here, so bare and
instrumented runs alternate (swapping the SDK attributes instrument() patched, untimed, GC off)
and the result is the median of the per-pair ratios.

    python benchmarks/overhead.py --instrumentation ours-sdk --mode stream --transport mock
    python benchmarks/overhead.py --instrumentation ours-sdk --mode stream --api responses
    python benchmarks/overhead.py --instrumentation ours-sdk --mode json --api messages --sdk-tracing on

`--api` picks the path (canned bytes for every one; loopback HTTP for chat only): openai chat
completions, the openai Responses API, or anthropic Messages on `/v1/messages`. For Messages,
`--sdk-tracing on` gives the anthropic client its own tracing on the same SDK tracer provider (so
its span is the one we enrich), `off` switches it off (`open_telemetry=False`: the call gets ours).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import types

import openai

MODEL = "openai/gpt-oss-20b"
MESSAGES = [{"role": "user", "content": "benchmark"}]
NEURALWATT = "https://api.neuralwatt.com/v1"
ENERGY = ('{"energy_joules": 15.23, "energy_kwh": 4.23e-06, "avg_power_watts": 78.5, "duration_seconds": 0.194, '
          '"attribution_method": "prorated", "attribution_ratio": 1.0, "carbon_g_co2eq": 0.0005146, '
          '"grid_carbon_intensity_gco2perkwhr": 42.0, "grid_id": "FI", "carbon_source": "agent_cache"}')
COST = '{"request_cost_usd": 6.1e-05, "cache_savings_usd": 0.0}'
# The headers the live service sends on every response (billing, quota, service tier).
LIVE_HEADERS = {
    "x-request-cost-usd": "6.1e-05", "x-cache-savings-usd": "0.0", "x-allowance-remaining-usd": "74.6",
    "x-budget-remaining-usd": "74.6", "x-subscription-plan": "pro", "x-energy-included": "5.0",
    "x-energy-remaining": "4.99", "x-energy-used": "0.01", "x-nw-service-tier": "default",
}


def canned_stream(chunks: int) -> bytes:
    """Neuralwatt's streaming wire format: chunks, a usage chunk, energy and cost comments, [DONE]."""
    head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"%s","choices":' % MODEL
    lines = [f'data: {head}[{{"index":0,"delta":{{"content":"tok{i} "}},"finish_reason":null}}]}}\n\n'
             for i in range(chunks)]
    lines.append(f'data: {head}[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}\n\n')
    lines.append(f'data: {head}[],"usage":{{"prompt_tokens":3,"completion_tokens":{chunks},"total_tokens":{chunks + 3}}}}}\n\n')
    lines.append(f": energy {ENERGY}\n: cost {COST}\ndata: [DONE]\n\n")
    return "".join(lines).encode()


def canned_json() -> bytes:
    return ('{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"%s","choices":[{"index":0,'
            '"message":{"role":"assistant","content":"A short answer."},"finish_reason":"stop"}],'
            '"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"energy":%s,"cost":%s}'
            % (MODEL, ENERGY, COST)).encode()


def canned_responses_stream(chunks: int) -> bytes:
    """The Responses API stream: created, the text deltas, completed (with usage), then energy and cost."""
    def event(name, data):
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    response = {"id": "resp_1", "object": "response", "created_at": 1, "model": MODEL, "status": "in_progress",
                "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    done = {**response, "status": "completed", "usage": {
        "input_tokens": 3, "output_tokens": chunks, "total_tokens": chunks + 3,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}
    lines = [event("response.created", {"response": response, "sequence_number": 0})]
    lines += [event("response.output_text.delta", {"item_id": "msg_1", "output_index": 0, "content_index": 0,
                                                    "delta": f"tok{i} ", "logprobs": [], "sequence_number": i + 1})
              for i in range(chunks)]
    lines += [event("response.completed", {"response": done, "sequence_number": chunks + 1}),
              f": energy {ENERGY}\n: cost {COST}\n"]
    return "".join(lines).encode()


def canned_response() -> bytes:
    return json.dumps({
        "id": "resp_1", "object": "response", "created_at": 1, "model": MODEL, "status": "completed",
        "output": [{"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "A short answer.", "annotations": []}]}],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        "energy": json.loads(ENERGY), "cost": json.loads(COST)}).encode()


def mock_client(chunks: int, api: str = "chat"):
    """A real openai client whose transport answers with canned Neuralwatt bytes (no network)."""
    import importlib

    # openai 3.x runs on httpx2, 1.x and 2.x on httpx (httpx2 may be there too, for anthropic).
    httpx = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")
    stream_body, json_body = ((canned_responses_stream(chunks), canned_response()) if api == "responses"
                              else (canned_stream(chunks), canned_json()))

    def answer(request):
        if b'"stream":true' in request.content:
            return httpx.Response(200, content=stream_body, headers={"content-type": "text/event-stream", **LIVE_HEADERS})
        return httpx.Response(200, content=json_body, headers={"content-type": "application/json", **LIVE_HEADERS})

    return openai.OpenAI(base_url=NEURALWATT, api_key="k", max_retries=0,
                         http_client=httpx.Client(transport=httpx.MockTransport(answer)))


def canned_messages_stream(chunks: int) -> bytes:
    """Neuralwatt's Anthropic Messages stream: the events, then energy and cost comments."""
    def event(name, data):
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    usage = {"input_tokens": 3, "output_tokens": 1}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
    lines = [event("message_start", {"message": message}),
             event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})]
    lines += [event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}})
              for i in range(chunks)]
    lines += [event("content_block_stop", {"index": 0}),
              event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": chunks}}),
              event("message_stop", {}), f": energy {ENERGY}\n: cost {COST}\n"]
    return "".join(lines).encode()


def canned_message() -> bytes:
    return ('{"id":"msg_1","type":"message","role":"assistant","model":"%s","content":[{"type":"text",'
            '"text":"A short answer."}],"stop_reason":"end_turn","stop_sequence":null,'
            '"usage":{"input_tokens":3,"output_tokens":4},"energy":%s,"cost":%s}' % (MODEL, ENERGY, COST)).encode()


def mock_anthropic_client(chunks: int, tracing=False):
    import anthropic
    import httpx2

    stream_body, json_body = canned_messages_stream(chunks), canned_message()

    def answer(request):
        if b'"stream":true' in request.content:
            return httpx2.Response(200, content=stream_body, headers={"content-type": "text/event-stream", **LIVE_HEADERS})
        return httpx2.Response(200, content=json_body, headers={"content-type": "application/json", **LIVE_HEADERS})

    return anthropic.Anthropic(base_url=NEURALWATT[:-3], api_key="k", max_retries=0, open_telemetry=tracing,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))


def sdk_providers(batch: bool = True):
    """The real SDK, exporting to nowhere: BatchSpanProcessor as deployed, or (for memory
    readings, where the batch queue's own 2,048 spans would hide ours) a SimpleSpanProcessor."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor((BatchSpanProcessor if batch else SimpleSpanProcessor)(Drop()))
    return {"tracer_provider": tracer_provider, "meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()])}


def instrumentor(name: str, hosts: list, api: str = "chat", sdk_tracing: bool = False):
    """(instrumentor, instrument() kwargs) for a name; peers in their default configuration."""
    if name == "ours-noop":
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
        return NeuralwattInstrumentor(), {"tracer_provider": NoOpTracerProvider(),
                                          "meter_provider": NoOpMeterProvider(), "hosts": hosts}
    if name == "ours-sdk":
        from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
        return NeuralwattInstrumentor(), {**sdk_providers(), "hosts": hosts}
    if name == "contract-floor":
        from contract_floor import ContractFloor
        return ContractFloor(api, sdk_tracing), sdk_providers()
    if name == "genai-openai":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
    elif name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    elif name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    else:
        raise SystemExit(f"unknown instrumentation {name}")
    return OpenAIInstrumentor(), sdk_providers()


def workload(client, mode: str, batch: int, api: str = "chat"):
    if api == "responses":
        if mode == "stream":
            def run():
                for _ in client.responses.create(model=MODEL, input="benchmark", stream=True):
                    pass
        else:
            def run():
                for _ in range(batch):
                    client.responses.create(model=MODEL, input="benchmark", max_output_tokens=16)
        return run
    if hasattr(client, "messages"):  # anthropic
        if mode == "stream":
            def run():
                for _ in client.messages.create(model=MODEL, messages=MESSAGES, max_tokens=1024, stream=True):
                    pass
        else:
            def run():
                for _ in range(batch):
                    client.messages.create(model=MODEL, messages=MESSAGES, max_tokens=4)
        return run
    if mode == "stream":
        def run():
            for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                    stream_options={"include_usage": True}):
                pass
    else:
        def run():
            for _ in range(batch):
                client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4)
    return run


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
                        and not key[1].startswith("__") and not issubclass(type(value), (type, types.ModuleType))}
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


def measure(args) -> dict:
    made, options = instrumentor(args.instrumentation, [], args.api, args.sdk_tracing == "on")
    if args.api == "messages":
        tracing = {"tracer_provider": options["tracer_provider"]} if args.sdk_tracing == "on" else False
        client = mock_anthropic_client(args.chunks, tracing)
    elif args.transport == "mock":
        client = mock_client(args.chunks, args.api)
    else:
        client = openai.OpenAI(base_url=args.base_url, api_key="k", max_retries=0)
        options = {**options, "hosts": [args.base_url]} if "hosts" in options else options
    run = workload(client, args.mode, args.batch, args.api)
    switch = PatchSwitch(made, options, run)
    set_state = switch.set_state

    for instrumented in (False, True, False, True):  # warm up both paths
        set_state(instrumented)
        run()
    ratios, bare, instrumented = [], [], []
    for pair in range(args.pairs):
        timing = {}
        for state in ((False, True) if pair % 2 == 0 else (True, False)):
            set_state(state)
            timing[state] = cpu_seconds(run)
        bare.append(timing[False])
        instrumented.append(timing[True])
        ratios.append(timing[True] / timing[False])
    restores = switch.uninstrument_restores_sdk()
    per_request = 1 if args.mode == "stream" else args.batch
    return {
        "instrumentation": args.instrumentation, "mode": args.mode, "transport": args.transport, "api": args.api,
        "sdk_tracing": args.sdk_tracing,
        "openai": openai.__version__, "pairs": args.pairs, "uninstrument_restores_sdk": restores,
        "median_ratio": statistics.median(ratios), "ratios": ratios,
        "quartiles": statistics.quantiles(ratios, n=4)[::2],  # the middle half of the pair ratios
        "bare_ms": 1000 * statistics.median(bare) / per_request,
        "instrumented_ms": 1000 * statistics.median(instrumented) / per_request,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instrumentation", required=True,
                        choices=["ours-noop", "ours-sdk", "contract-floor", "genai-openai", "openllmetry",
                                 "openinference"])
    parser.add_argument("--mode", choices=["stream", "json"], required=True)
    parser.add_argument("--transport", choices=["mock", "emulator"], default="mock")
    parser.add_argument("--api", choices=["chat", "responses", "messages"], default="chat",
                        help="openai chat completions, the openai Responses API, or anthropic Messages")
    parser.add_argument("--sdk-tracing", choices=["on", "off"], default="off",
                        help="anthropic's own tracing (--api messages): on, on the benchmark's tracer provider")
    parser.add_argument("--base-url", help="the emulator's base URL (with --transport emulator)")
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per stream (mock transport)")
    parser.add_argument("--batch", type=int, default=50, help="non-streaming calls per timed run")
    print(json.dumps(measure(parser.parse_args())))


if __name__ == "__main__":
    main()
