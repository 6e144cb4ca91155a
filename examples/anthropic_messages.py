"""Neuralwatt energy on the Anthropic Messages API, with the `anthropic` SDK.

    python examples/anthropic_messages.py

Without NEURALWATT_API_KEY it runs against the built-in emulator (its `/v1/messages`); with it,
against the real API. Makes a non-streaming call and a `messages.stream()` call, with anthropic's
own tracing on (the default): each call has one span, anthropic's, carrying Neuralwatt's energy.
"""

from __future__ import annotations

import contextlib
import os

import anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator

MODEL = os.environ.get("NEURALWATT_MODEL", "moonshotai/Kimi-K2.6")
MESSAGES = [{"role": "user", "content": "In one sentence: why measure the energy of an LLM call?"}]


def main() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    key = os.environ.get("NEURALWATT_API_KEY")
    with contextlib.ExitStack() as stack:
        if key:
            base_url, hosts = "https://api.neuralwatt.com", []
        else:
            emulator = stack.enter_context(NeuralwattEmulator())
            base_url, hosts, key = emulator.base_url[:-3], [f"127.0.0.1:{emulator.port}"], "emulator"
            print(f"No NEURALWATT_API_KEY: using the built-in emulator at {base_url}")
        NeuralwattInstrumentor().instrument(tracer_provider=provider, hosts=hosts)
        client = anthropic.Anthropic(base_url=base_url, api_key=key, open_telemetry={"tracer_provider": provider})

        client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
        with client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
            print("".join(stream.text_stream))

    for span in spans.get_finished_spans():
        joules = span.attributes.get("neuralwatt.energy.joules")
        print(f"{span.name:<28} {span.instrumentation_scope.name:<28} "
              f"{span.attributes.get('gen_ai.usage.output_tokens')} tokens  "
              + (f"{joules} J" if joules is not None else "no energy reported"))


if __name__ == "__main__":
    main()
