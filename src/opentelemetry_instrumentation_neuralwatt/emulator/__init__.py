"""A Neuralwatt-compatible HTTP server for offline demos and tests (standard library only).

    python -m opentelemetry_instrumentation_neuralwatt.emulator --port 8123

or, in a test::

    with NeuralwattEmulator() as emulator:
        client = openai.OpenAI(base_url=emulator.base_url, api_key="test")
        ...
        emulator.exchanges[-1].energy   # exactly the energy object the server sent

It serves `/v1/models`, `/v1/chat/completions` (streaming or not, `stream_options.include_usage`),
`/v1/completions`, `/v1/embeddings`, `/v1/responses` (the openai Responses API),
`/v1/messages` (the Anthropic Messages API) and `GET /v1/quota` (balance, subscription and key
allowance, at most once a second). The answer follows a prompt that asks for named
`[[ ## field ## ]]` sections (dspy's), or offers tools. Energy grows with the tokens and differs per
request; a stream ends with `: energy {...}` and `: cost {...}` comments (before `data: [DONE]`
on chat and completions), as the real service does. Faults are switched on per request with the
`X-Emulator-Fault` header (a comma-separated list, see FAULTS) or for every request with
`faults=` / `--fault`. What bytes each API sends is in its `wire_*` module; `server.py` is the
HTTP side.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import threading
import time
from collections.abc import Iterable
from typing import TextIO

from .live import Sessions
from .measure import FAULTS, Meter
from .server import FAULT_HEADER, MODELS, Handler, Server
from .wire import CREATED, Exchange

__all__ = ["CREATED", "FAULTS", "FAULT_HEADER", "MODELS", "Exchange", "NeuralwattEmulator", "main"]


class NeuralwattEmulator:
    """The emulator as a context manager: starts on enter (port 0 picks a free port), stops on exit."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: Iterable[str] = (),
                 seed: int | None = None, completion_tokens: int = 12, chunk_delay: float = 0.0,
                 responses_energy: bool = False, log: TextIO | None = None):
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
        self.log = log  # where to write one line per request (the command line: stderr)
        self._last_quota = 0.0
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

    def _quota_allowed(self) -> bool:
        """`GET /v1/quota` is limited to one request a second."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_quota < 1.0:
                return False
            self._last_quota = now
            return True

    def _log(self, exchange: Exchange) -> None:
        if self.log is None:
            return
        energy = exchange.energy.get("energy_joules") if isinstance(exchange.energy, dict) else None
        parts = [exchange.path, f"status={exchange.status}"]
        if exchange.model:
            parts.append(f"model={exchange.model}")
        if exchange.path != "/v1/quota":
            parts.append("stream" if exchange.stream else "whole")
            parts.append(f"energy_joules={energy}" if energy is not None else "energy not sent")
        if exchange.faults:
            parts.append(f"faults={','.join(sorted(exchange.faults))}")
        print("POST " if exchange.path != "/v1/quota" else "GET ", " ".join(parts), sep="", file=self.log, flush=True)

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter


def main(argv: list | None = None) -> None:
    faults = "\n".join(f"  {name:25} {what}" for name, what in sorted(FAULTS.items()))
    parser = argparse.ArgumentParser(prog="python -m opentelemetry_instrumentation_neuralwatt.emulator",
                                     description="Run a Neuralwatt-compatible API emulator (offline, on loopback).",
                                     epilog=f"faults (--fault, or per request in the {FAULT_HEADER} header):\n{faults}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8123,
                        help="the port to listen on (default: %(default)s, which the README's commands use; "
                             "0 picks a free one)")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS), metavar="FAULT",
                        help="inject this fault into every response (repeatable)")
    parser.add_argument("--tokens", type=int, default=12,
                        help="completion tokens of an answer the model finishes (default: %(default)s); "
                             "a request's max_tokens at or below it cuts the answer there")
    parser.add_argument("--seed", type=int, default=None,
                        help="the same seed gives the same numbers (default: different every run)")
    parser.add_argument("--responses-energy", action="store_true",
                        help="report energy on /v1/responses too (the live service does not, as of 2026-08)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request on stderr")
    args = parser.parse_args(argv)
    emulator = NeuralwattEmulator(args.host, args.port, args.fault, args.seed, args.tokens,
                                  responses_energy=args.responses_energy, log=None if args.quiet else sys.stderr)
    try:
        emulator.start()
    except OSError as error:  # one line with the way out, not a traceback
        if error.errno == errno.EADDRINUSE:
            sys.exit(f"Port {args.port} on {args.host} is already in use (an emulator already running?): "
                     "stop what listens there, or pick another port with --port (--port 0 picks a free one).")
        sys.exit(f"Cannot listen on {args.host}:{args.port} ({error.strerror or error}): "
                 "pick another address with --host or another port with --port.")
    print(f"Neuralwatt emulator on {emulator.base_url}  "  # it takes any key, but clients insist on one
          f"(export NEURALWATT_API_BASE={emulator.base_url} NEURALWATT_API_KEY=test)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()

