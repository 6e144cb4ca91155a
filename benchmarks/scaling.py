"""How CPU time grows with input size, bare `openai` against ours, on hostile or large inputs.

Each case runs at n and at 4n, bare and instrumented, in this process (canned bytes through the
SDK's own transport, no network). Linear cost shows as a 4n/n growth near 4 for both columns.

    python benchmarks/scaling.py            # the figures in the README
    python benchmarks/scaling.py --quick    # small n, for CI: it must run, nothing is asserted

Cases: content capture on a chat history of n messages; capture on a stream of n text chunks;
capture on a stream of n chunks each with its own choice index; `with_streaming_response`'s
`iter_bytes()` over one SSE line of n KiB arriving in 4 KiB pieces.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
import time

import openai

MODEL = "openai/gpt-oss-20b"
NEURALWATT = "https://api.neuralwatt.com/v1"
ENERGY = '{"energy_joules": 15.23, "avg_power_watts": 78.5}'
HEAD = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"%s","choices":' % MODEL
httpx = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")


def sse(chunks: list[str]) -> bytes:
    return ("".join(f"data: {HEAD}{c}}}\n\n" for c in chunks) + f": energy {ENERGY}\ndata: [DONE]\n\n").encode()


def whole() -> bytes:
    return ('{"id":"c","object":"chat.completion","created":1,"model":"%s","choices":[{"index":0,"message":'
            '{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,'
            '"completion_tokens":1,"total_tokens":2},"energy":%s}' % (MODEL, ENERGY)).encode()


def client_answering(body: bytes, content_type: str, piece: int = 65536):
    def answer(request):
        pieces = [body[i:i + piece] for i in range(0, len(body), piece)]
        return httpx.Response(200, stream=httpx.ByteStream(b"".join(pieces)) if piece >= len(body) else
                              _Pieces(pieces), headers={"content-type": content_type})

    return openai.OpenAI(base_url=NEURALWATT, api_key="k", max_retries=0,
                         http_client=httpx.Client(transport=httpx.MockTransport(answer)))


class _Pieces(httpx.SyncByteStream):
    def __init__(self, pieces):
        self.pieces = pieces

    def __iter__(self):
        yield from self.pieces


def history(n: int):
    messages = [{"role": "user" if i % 2 else "assistant", "content": f"message {i} " + "x" * 40} for i in range(n)]
    client = client_answering(whole(), "application/json")
    return lambda: client.chat.completions.create(model=MODEL, messages=messages)


def stream_text(n: int):
    body = sse([f'[{{"index":0,"delta":{{"content":"tok{i} "}},"finish_reason":null}}]' for i in range(n)])
    client = client_answering(body, "text/event-stream")
    return lambda: list(client.chat.completions.create(model=MODEL, messages=[], stream=True))


def choice_indexes(n: int):
    body = sse([f'[{{"index":{i},"delta":{{"content":"t"}},"finish_reason":null}}]' for i in range(n)])
    client = client_answering(body, "text/event-stream")
    return lambda: list(client.chat.completions.create(model=MODEL, messages=[], stream=True))


def long_line(n: int):
    line = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                       "choices": [{"index": 0, "delta": {"content": "x" * (n * 1024)}, "finish_reason": None}]})
    body = f"data: {line}\n\n: energy {ENERGY}\ndata: [DONE]\n\n".encode()
    client = client_answering(body, "text/event-stream", piece=4096)

    def read():
        with client.chat.completions.with_streaming_response.create(model=MODEL, messages=[], stream=True) as raw:
            for _ in raw.iter_bytes():
                pass

    return read


CASES = {  # name: (make, n, what n counts)
    "history": (history, 1000, "messages"),
    "stream_text": (stream_text, 10000, "chunks"),
    "choice_indexes": (choice_indexes, 5000, "choice indexes"),
    "long_line": (long_line, 1024, "KiB in one line"),
}


def cpu(run, repeats: int) -> float:
    gc.collect()
    gc.disable()
    try:
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            run()
            best = min(best, time.process_time() - start)
        return best
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n, one repeat (CI smoke run)")
    args = parser.parse_args()
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    from opentelemetry.sdk.trace import TracerProvider

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    scale, repeats = (0.02, 1) if args.quick else (1, 3)
    results = []
    for name, (make, base, unit) in CASES.items():
        row = {"case": name, "unit": unit}
        for label, n in (("n", max(4, int(base * scale))), ("4n", 4 * max(4, int(base * scale)))):
            run = make(n)
            bare = cpu(run, repeats)
            instrumentor = NeuralwattInstrumentor()
            instrumentor.instrument(tracer_provider=TracerProvider())
            try:
                ours = cpu(run, repeats)
            finally:
                instrumentor.uninstrument()
            row[label] = {"n": n, "bare_s": round(bare, 4), "ours_s": round(ours, 4)}
        row["growth_bare"] = round(row["4n"]["bare_s"] / max(row["n"]["bare_s"], 1e-9), 2)
        row["growth_ours"] = round(row["4n"]["ours_s"] / max(row["n"]["ours_s"], 1e-9), 2)
        results.append(row)
        print(f"{name:15} n={row['n']['n']:>6} bare {row['n']['bare_s']:.3f}s ours {row['n']['ours_s']:.3f}s | "
              f"4n={row['4n']['n']:>6} bare {row['4n']['bare_s']:.3f}s ours {row['4n']['ours_s']:.3f}s | "
              f"4n/n bare {row['growth_bare']} ours {row['growth_ours']}", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
