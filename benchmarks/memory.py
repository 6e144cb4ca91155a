"""Memory: peak Python allocation while reading a 20,000-chunk stream, and RSS over 5,000
requests (growth per request must be ~0: nothing is kept per request).

    python benchmarks/memory.py
"""

from __future__ import annotations

import gc
import json
import tracemalloc

from overhead import MESSAGES, MODEL, mock_client, sdk_providers

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        import os

        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def stream_peak(client) -> int:
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass  # warm up: first calls build the SDK's models and caches
    gc.collect()
    tracemalloc.start()
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True}):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def rss_growth(client, warmup: int = 1000, requests: int = 5000) -> float:
    """Bytes of RSS growth per request over `requests` calls, after `warmup` calls."""
    def calls(count):
        for index in range(count):
            if index % 10 == 0:  # a mix: one stream in ten, and every fifth of those abandoned
                response = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
                for position, _ in enumerate(response):
                    if index % 50 == 0 and position == 2:
                        break
                response.close()
            else:
                client.chat.completions.create(model=MODEL, messages=MESSAGES)

    calls(warmup)
    gc.collect()
    before = rss_bytes()
    calls(requests)
    gc.collect()
    return (rss_bytes() - before) / requests


def main():
    big, small = mock_client(20_000), mock_client(20)
    bare_peak = stream_peak(big)
    bare_growth = rss_growth(small)
    instrumentor = NeuralwattInstrumentor()
    instrumentor.instrument(**sdk_providers())
    ours_peak = stream_peak(big)
    ours_growth = rss_growth(small)
    instrumentor.uninstrument()
    print(json.dumps({
        "stream_chunks": 20_000, "peak_bare_bytes": bare_peak, "peak_instrumented_bytes": ours_peak,
        "requests": 5000, "rss_growth_per_request_bare_bytes": bare_growth,
        "rss_growth_per_request_instrumented_bytes": ours_growth,
    }))


if __name__ == "__main__":
    main()
