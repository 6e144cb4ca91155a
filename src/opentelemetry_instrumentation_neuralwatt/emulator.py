"""A Neuralwatt-compatible HTTP server for offline demos and tests (standard library only).

    python -m opentelemetry_instrumentation_neuralwatt.emulator --port 8123

or, in a test::

    with NeuralwattEmulator() as emulator:
        client = openai.OpenAI(base_url=emulator.base_url, api_key="test")
        ...
        emulator.exchanges[-1].energy   # exactly the energy object the server sent

It serves `/v1/models`, `/v1/chat/completions` (streaming or not, `stream_options.include_usage`),
`/v1/completions` and `/v1/embeddings`. Energy grows with the tokens and differs per request; a
stream ends with `: energy {...}` and `: cost {...}` comments just before `data: [DONE]`, as the
real service does. Faults are switched on per request with the `X-Emulator-Fault` header (a
comma-separated list, see FAULTS) or for every request with `faults=` / `--fault`.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Optional

FAULT_HEADER = "X-Emulator-Fault"
# A fixed timestamp: the same seed gives byte-identical answers, which tests compare.
CREATED = 1767225600

FAULTS = {
    "malformed-energy": "the energy payload is not valid JSON",
    "nan-energy": "energy numbers are NaN / Infinity",
    "wrong-types": "strings, lists and objects where numbers belong",
    "absurd-energy": "negative and physically absurd numbers",
    "huge-energy": "a 1 MB energy payload",
    "non-utf8": "invalid UTF-8 bytes in the energy comment (the SDK itself fails)",
    "no-measurement": 'energy is {"measurement_available": false}',
    "no-energy": "no energy and no cost at all",
    "no-cost": "energy but no cost",
    "energy-in-data": "energy and cost inside the last data chunk instead of comments",
    "crlf": "CRLF line endings",
    "split-comment": "the energy comment is written in small pieces across network reads",
    "keepalive": "`: ping` keep-alive comments between chunks and `: mcr-session` before energy",
    "disconnect": "the connection drops half-way through the stream",
    "stream-error": 'a `data: {"error": ...}` event half-way through the stream',
    "slow": "50 ms between stream chunks",
    "http-429": "HTTP 429 on every attempt (Retry-After 0)",
    "http-500": "HTTP 500 on every attempt",
    "http-500-once": "HTTP 500 the first time a request body arrives, a normal answer to its retry",
    "http-401": "HTTP 401",
}

# (id, kind, context length): the shape of Neuralwatt's own /v1/models list.
MODELS = [
    ("openai/gpt-oss-20b", "chat", 16384),
    ("moonshotai/Kimi-K2.6", "chat", 262144),
    ("Qwen/Qwen3.6-35B-A3B", "chat", 131072),
    ("zai-org/GLM-5.1-FP8", "chat", 202752),
    ("mistralai/Devstral-Small-2-24B-Instruct-2512", "chat", 262144),
    ("BAAI/bge-m3", "embeddings", 8192),
]

_WORDS = (
    "Energy is measured on the GPU for every request and attributed to it by share of the "
    "work done while it ran so that each answer carries its own joules watts and grams"
).split()


@dataclass
class Exchange:
    """One request the emulator answered, and exactly what it sent back."""

    path: str
    request: dict
    faults: frozenset
    stream: bool = False
    response_id: Optional[str] = None
    model: Optional[str] = None
    usage: Optional[dict] = None
    energy: Any = None  # the energy object as sent (None when not sent)
    cost: Any = None
    status: int = 200
    headers: dict = field(default_factory=dict)


def _tokens(value: Any) -> int:
    """A rough token count (words) of a prompt, message list or input list."""
    if isinstance(value, str):
        return max(1, len(value.split()))
    if isinstance(value, dict):
        return _tokens(value.get("content", "")) + 3
    if isinstance(value, list):
        return sum(_tokens(v) for v in value) or 1
    return 1


class _Energy:
    """Plausible, per-request numbers: joules grow with tokens, power and mix vary."""

    def __init__(self, seed: Optional[int]):
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def measure(self, prompt_tokens: int, completion_tokens: int, faults: frozenset):
        with self._lock:
            power = round(self._random.uniform(250.0, 900.0), 2)
            per_token = self._random.uniform(0.15, 0.35)
            ratio = round(self._random.uniform(0.05, 1.0), 4)
        joules = round(0.02 * prompt_tokens + per_token * completion_tokens + 0.5, 4)
        kwh = joules / 3.6e6
        intensity = 42.0
        energy = {
            "energy_joules": joules,
            "energy_kwh": kwh,
            "avg_power_watts": power,
            "duration_seconds": round(joules / power, 6),
            "attribution_method": "prorated",
            "attribution_ratio": ratio,
            "carbon_g_co2eq": kwh * intensity,
            "grid_carbon_intensity_gco2perkwhr": intensity,
            "grid_id": "FI",
            "carbon_source": "agent_cache",
            "mcr": {"session_turns": 1, "cache_hit": False},
        }
        cost = {
            "request_cost_usd": round(1e-7 * prompt_tokens + 4e-7 * completion_tokens, 10),
            "cache_savings_usd": 0.0,
            "allowance_remaining_usd": 74.6,
            "budget_remaining_usd": 74.6,
        }
        return _apply_energy_faults(energy, cost, faults)


def _apply_energy_faults(energy: dict, cost: dict, faults: frozenset):
    if "no-energy" in faults:
        return None, None
    if "no-cost" in faults:
        cost = None
    if "no-measurement" in faults:
        energy = {"measurement_available": False}
    if "nan-energy" in faults:
        energy = {**energy, "energy_joules": float("nan"), "avg_power_watts": float("inf"),
                  "carbon_g_co2eq": float("-inf")}
    if "wrong-types" in faults:
        energy = {**energy, "energy_joules": str(energy.get("energy_joules")), "avg_power_watts": [1, 2],
                  "duration_seconds": {"s": 1}, "attribution_method": 7, "measurement_available": "yes",
                  "energy_kwh": True}
        cost = {"request_cost_usd": "0.01"}
    if "absurd-energy" in faults:
        energy = {**energy, "energy_joules": -5.0, "avg_power_watts": 1e15, "attribution_ratio": 3.5,
                  "duration_seconds": 1e12}
    if "huge-energy" in faults:
        energy = {**energy, "padding": "x" * (1 << 20)}
    return energy, cost


def _tool_to_call(body: dict) -> Optional[str]:
    """With tools offered and no tool result yet, the model calls the first tool (no arguments)."""
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    if not tools or any(isinstance(m, dict) and m.get("role") == "tool" for m in messages):
        return None
    return (tools[0].get("function") or {}).get("name")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # quiet: tests and demos print their own output
        pass

    # -- plumbing --
    def _faults(self) -> frozenset:
        names = {f.strip() for f in self.headers.get(FAULT_HEADER, "").split(",") if f.strip()}
        return frozenset(names | set(self.server.emulator.faults))

    def _send_json(self, status: int, body: Any, headers: Optional[dict] = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    # -- routes --
    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": name, "object": "model", "created": CREATED, "owned_by": name.split("/")[0],
                     "max_model_len": context, "type": kind} for name, kind, context in MODELS]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        body = self._read_body()
        faults = self._faults()
        exchange = Exchange(path=path, request=body, faults=faults)
        exchange.headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        if self._http_fault(exchange):
            self.server.emulator._record(exchange)
            return
        routes = {
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completion,
            "/v1/embeddings": self._embeddings,
        }
        route = routes.get(path)
        if route is None:
            exchange.status = 404
            self.server.emulator._record(exchange)
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        self.server.emulator._record(exchange)
        route(body, exchange)

    def _http_fault(self, exchange: Exchange) -> bool:
        faults = exchange.faults
        first_try = self.server.emulator._first_time(exchange.request) if "http-500-once" in faults else True
        for name, status, kind in (("http-401", 401, "authentication_error"), ("http-429", 429, "rate_limit"),
                                   ("http-500", 500, "server_error")):
            if name in faults or (name == "http-500" and "http-500-once" in faults and first_try):
                exchange.status = status
                self._send_json(status, {"error": {"message": f"emulated {status}", "type": kind}},
                                {"Retry-After": "0", "retry-after-ms": "1"})
                return True
        return False

    def _answer(self, body: dict, exchange: Exchange, prompt: Any, prefix: str):
        emulator = self.server.emulator
        exchange.model = body.get("model") or MODELS[0][0]
        exchange.response_id = f"{prefix}-{emulator._next_id():06d}"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or emulator.completion_tokens
        words = [_WORDS[i % len(_WORDS)] for i in range(int(max_tokens))]
        prompt_tokens = _tokens(prompt)
        exchange.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                          "total_tokens": prompt_tokens + len(words)}
        exchange.energy, exchange.cost = emulator._energy.measure(prompt_tokens, len(words), exchange.faults)
        return words

    def _chat(self, body: dict, exchange: Exchange):
        words = self._answer(body, exchange, body.get("messages", []), "chatcmpl")
        tool = _tool_to_call(body)
        if body.get("stream"):
            chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}]
            if tool:
                call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": tool, "arguments": ""}}
                chunks += [{"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]},
                           {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
                               "arguments": "{}"}}]}, "finish_reason": None}]}]
            else:
                chunks += [{"choices": [{"index": 0, "delta": {"content": (" " if i else "") + word},
                                         "finish_reason": None}]} for i, word in enumerate(words)]
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if tool else "stop"}]})
            self._stream(body, exchange, "chat.completion.chunk", chunks)
            return
        if tool:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{}"}}]}
        else:
            message = {"role": "assistant", "content": " ".join(words)}
        self._complete(exchange, {"object": "chat.completion", "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop", "logprobs": None}]})

    def _completion(self, body: dict, exchange: Exchange):
        words = self._answer(body, exchange, body.get("prompt", ""), "cmpl")
        if body.get("stream"):
            chunks = [{"choices": [{"index": 0, "text": (" " if i else "") + word, "finish_reason": None,
                                    "logprobs": None}]} for i, word in enumerate(words)]
            chunks[-1]["choices"][0]["finish_reason"] = "length"
            self._stream(body, exchange, "text_completion", chunks)
            return
        self._complete(exchange, {"object": "text_completion", "choices": [
            {"index": 0, "text": " ".join(words), "finish_reason": "length", "logprobs": None}]})

    def _embeddings(self, body: dict, exchange: Exchange):
        inputs = body.get("input", "")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        exchange.model = body.get("model") or "BAAI/bge-m3"
        prompt_tokens = _tokens(inputs)
        exchange.usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        exchange.energy, exchange.cost = self.server.emulator._energy.measure(prompt_tokens, 0, exchange.faults)
        data = [{"object": "embedding", "index": i, "embedding": [round(0.001 * (i + j), 6) for j in range(8)]}
                for i in range(len(inputs))]
        self._complete(exchange, {"object": "list", "data": data}, with_id=False)

    def _complete(self, exchange: Exchange, payload: dict, with_id: bool = True) -> None:
        if with_id:
            payload = {"id": exchange.response_id, "created": CREATED, **payload}
        payload.update(model=exchange.model, usage=exchange.usage)
        if exchange.energy is not None:
            payload["energy"] = exchange.energy if "malformed-energy" not in exchange.faults else "{not json"
        if exchange.cost is not None:
            payload["cost"] = exchange.cost
        if "malformed-energy" in exchange.faults:
            exchange.energy = payload.get("energy")
        self._send_json(200, payload)

    # -- streaming --
    def _stream(self, body: dict, exchange: Exchange, kind: str, chunks: list) -> None:
        faults = exchange.faults
        exchange.stream = True
        newline = b"\r\n" if "crlf" in faults else b"\n"
        base = {"id": exchange.response_id, "object": kind, "created": CREATED, "model": exchange.model}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if include_usage:
            chunks = chunks + [{"choices": [], "usage": exchange.usage}]
        in_data = "energy-in-data" in faults
        if in_data and exchange.energy is not None:
            chunks[-1] = {**chunks[-1], "energy": exchange.energy}
            if exchange.cost is not None:
                chunks[-1]["cost"] = exchange.cost

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        delay = 0.05 if "slow" in faults else self.server.emulator.chunk_delay
        half = len(chunks) // 2
        for index, chunk in enumerate(chunks):
            if index == half and "disconnect" in faults:
                self._drop_connection()
                return
            if index == half and "stream-error" in faults:
                self._write(b"data: " + json.dumps({"error": {"message": "emulated failure", "type": "server_error"}}).encode() + newline + newline)
                self._end_stream()
                return
            self._write(b"data: " + json.dumps({**base, **chunk}).encode() + newline + newline)
            if "keepalive" in faults and index % 3 == 0:
                self._write(b": ping" + newline)
            if delay:
                time.sleep(delay)

        if "keepalive" in faults:
            self._write(b': mcr-session {"session_id": "s-1", "turn": 1}' + newline)
        if not in_data:
            if exchange.energy is not None:
                self._write_energy(exchange, newline)
            if exchange.cost is not None:
                self._write(b": cost " + json.dumps(exchange.cost).encode() + newline)
        self._write(b"data: [DONE]" + newline + newline)
        self._end_stream()

    def _write_energy(self, exchange: Exchange, newline: bytes) -> None:
        faults = exchange.faults
        payload = json.dumps(exchange.energy).encode()
        if "malformed-energy" in faults:
            payload = payload[: len(payload) // 2]
            exchange.energy = payload.decode()
        if "non-utf8" in faults:
            payload = payload[:-1] + b', "grid_id": "\xff\xfe"}'
        line = b": energy " + payload + newline
        if "split-comment" in faults:
            for start in range(0, len(line), 7):
                self._write(line[start:start + 7])
                time.sleep(0.002)
        else:
            self._write(line)

    def _write(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many concurrent clients connect at once in tests
    emulator: "NeuralwattEmulator"

    def handle_error(self, request, client_address):
        # A client that stops reading a stream early closes its socket: that is not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class NeuralwattEmulator:
    """The emulator as a context manager: starts on enter (port 0 picks a free port), stops on exit."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: Iterable[str] = (),
                 seed: Optional[int] = None, completion_tokens: int = 12, chunk_delay: float = 0.0):
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}; known: {sorted(FAULTS)}")
        self.host = host
        self.port = port
        self.faults = frozenset(faults)
        self.completion_tokens = completion_tokens
        self.chunk_delay = chunk_delay
        self.exchanges: list[Exchange] = []
        self._energy = _Energy(seed)
        self._lock = threading.Lock()
        self._counter = 0
        self._seen: set = set()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "NeuralwattEmulator":
        self._server = _Server((self.host, self.port), _Handler)
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

    def __enter__(self) -> "NeuralwattEmulator":
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


def main(argv: Optional[list] = None) -> None:
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


if __name__ == "__main__":
    main()
