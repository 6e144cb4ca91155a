"""A Neuralwatt-compatible HTTP server for offline demos and tests (standard library only).

    python -m opentelemetry_instrumentation_neuralwatt.emulator --port 8123

or, in a test::

    with NeuralwattEmulator() as emulator:
        client = openai.OpenAI(base_url=emulator.base_url, api_key="test")
        ...
        emulator.exchanges[-1].energy   # exactly the energy object the server sent

It serves `/v1/models`, `/v1/chat/completions` (streaming or not, `stream_options.include_usage`),
`/v1/completions`, `/v1/embeddings`, `/v1/responses` (the openai Responses API) and
`/v1/messages` (the Anthropic Messages API). Energy grows with the tokens and differs per
request; a stream ends with `: energy {...}` and `: cost {...}` comments (before `data: [DONE]`
on chat and completions), as the real service does. Faults are switched on per request with the
`X-Emulator-Fault` header (a comma-separated list, see FAULTS) or for every request with
`faults=` / `--fault`. What bytes each API sends is in its `wire_*` module; `server.py` is the
HTTP side.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterable

from .live import Sessions
from .measure import FAULTS, Meter
from .server import FAULT_HEADER, MODELS, Handler, Server
from .wire import CREATED, Exchange

__all__ = ["CREATED", "FAULTS", "FAULT_HEADER", "MODELS", "Exchange", "NeuralwattEmulator", "main"]


class NeuralwattEmulator:
    """The emulator as a context manager: starts on enter (port 0 picks a free port), stops on exit."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: Iterable[str] = (),
                 seed: int | None = None, completion_tokens: int = 12, chunk_delay: float = 0.0,
                 responses_energy: bool = False):
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}; known: {sorted(FAULTS)}")
        self.host = host
        self.port = port
        self.faults = frozenset(faults)
        self.completion_tokens = completion_tokens
        self.chunk_delay = chunk_delay
        # Neuralwatt's /v1/responses reports no energy today; True makes it report as elsewhere.
        self.responses_energy = responses_energy
        self.exchanges: list[Exchange] = []
        self._meter = Meter(seed)
        self._sessions = Sessions()
        self._lock = threading.Lock()
        self._counter = 0
        self._seen: set = set()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> NeuralwattEmulator:
        self._server = Server((self.host, self.port), Handler)
        self._server.emulator = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="neuralwatt-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> NeuralwattEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def exchange(self, response_id: str) -> Exchange:
        """The exchange that produced `response_id`."""
        with self._lock:
            for exchange in self.exchanges:
                if exchange.response_id == response_id:
                    return exchange
        raise KeyError(response_id)

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _first_time(self, request: dict) -> bool:
        """True the first time this exact request body arrives (an SDK retry resends it)."""
        key = json.dumps(request, sort_keys=True)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a Neuralwatt-compatible API emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS),
                        help="inject this fault into every response (repeatable)")
    parser.add_argument("--tokens", type=int, default=12, help="completion tokens per answer")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    emulator = NeuralwattEmulator(args.host, args.port, args.fault, args.seed, args.tokens).start()
    print(f"Neuralwatt emulator on {emulator.base_url}  (export NEURALWATT_API_BASE={emulator.base_url})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()

