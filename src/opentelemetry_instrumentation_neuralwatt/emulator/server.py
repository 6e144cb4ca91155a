"""The emulator's HTTP server: routes a request to its wire format, injects faults, and writes
what the wire format answers (a JSON body, or an SSE stream ending in the energy comments)."""

from __future__ import annotations

import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from . import wire_anthropic, wire_openai, wire_responses
from .wire import CREATED, Answer, Exchange, Turn

FAULT_HEADER = "X-Emulator-Fault"
ROUTES = {**wire_openai.ROUTES, **wire_responses.ROUTES, **wire_anthropic.ROUTES}

# (id, kind, context length): the shape of Neuralwatt's own /v1/models list.
MODELS = [
    ("openai/gpt-oss-20b", "chat", 16384),
    ("moonshotai/Kimi-K2.6", "chat", 262144),
    ("Qwen/Qwen3.6-35B-A3B", "chat", 131072),
    ("zai-org/GLM-5.1-FP8", "chat", 202752),
    ("mistralai/Devstral-Small-2-24B-Instruct-2512", "chat", 262144),
    ("BAAI/bge-m3", "embeddings", 8192),
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "Server"

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

    def _send_empty(self, status: int, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

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
        emulator = self.server.emulator
        path = self.path.split("?")[0].rstrip("/")
        body = self._read_body()
        exchange = Exchange(path=path, request=body, faults=self._faults())
        exchange.headers = {k.lower(): v for k, v in self.headers.items()
                            if k.lower() not in ("authorization", "x-api-key")}
        route = ROUTES.get(path)
        if self._http_fault(exchange) or route is None:
            if route is None and exchange.status == 200:
                exchange.status = 404
                self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            emulator._record(exchange)
            return
        emulator._record(exchange)
        answer = route(Turn(emulator, exchange, body))
        if answer.events is None:
            self._send_json(200, answer.body, exchange.response_headers)
        else:
            self._stream(exchange, answer)

    def _http_fault(self, exchange: Exchange) -> bool:
        faults = exchange.faults
        first_try = self.server.emulator._first_time(exchange.request) if "http-500-once" in faults else True
        for name, status, kind in (("http-401", 401, "authentication_error"), ("http-429", 429, "rate_limit"),
                                   ("http-500", 500, "server_error")):
            if name in faults or (name == "http-500" and "http-500-once" in faults and first_try):
                exchange.status = status
                retry = {"Retry-After": "0", "retry-after-ms": "1"}
                if status == 429:  # as the live service: an empty body and rate-limit headers
                    self._send_empty(429, {**retry, "x-ratelimit-limit-requests": "60",
                                           "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"})
                elif status == 401:  # as real services do: the message echoes the key it got
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ") or self.headers.get("x-api-key")
                    self._send_json(401, {"error": {"message": f"Incorrect API key provided: {key}.", "type": kind}})
                else:
                    self._send_json(status, {"error": {"message": f"emulated {status}", "type": kind}}, retry)
                return True
        return False

    # -- streaming --
    def _stream(self, exchange: Exchange, answer: Answer) -> None:
        faults = exchange.faults
        exchange.stream = True
        newline = b"\r\n" if "crlf" in faults else b"\n"
        events = list(answer.events)
        in_data = "energy-in-data" in faults
        if in_data and exchange.energy is not None:
            name, data = events[answer.energy_event]
            data = {**data, "energy": exchange.energy}
            if exchange.cost is not None:
                data["cost"] = exchange.cost
            events[answer.energy_event] = (name, data)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in exchange.response_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if "mcr-status" in faults:  # compaction heartbeats before the first token
            for progress in (0.5, 1.0):
                self._write_event("mcr-status", {"phase": "compacting", "progress": progress}, newline)
        if "mcr-status-text" in faults:
            self._write(b"event: mcr-status" + newline + b"data: compacting context" + newline + newline)

        delay = 0.05 if "slow" in faults else self.server.emulator.chunk_delay
        half = len(events) // 2
        for index, (name, data) in enumerate(events):
            if index == half and "disconnect" in faults:
                self._drop_connection()
                return
            if index == half and "stream-error" in faults:
                self._write_event(*answer.error_event, newline)
                self._end_stream()
                return
            self._write_event(name, data, newline)
            if "keepalive" in faults and index % 3 == 0:
                self._write(b": ping" + newline)
            if delay:
                time.sleep(delay)

        if "keepalive" in faults:
            self._write(b': mcr-session {"session_id": "s-1", "turn": 1}' + newline)
        if exchange.mcr_session is not None:
            self._write(b": mcr-session " + json.dumps(exchange.mcr_session).encode() + newline)
        if not in_data:
            if exchange.energy is not None:
                self._write_energy(exchange, newline)
            if exchange.cost is not None:
                self._write(b": cost " + json.dumps(exchange.cost).encode() + newline)
        if answer.done:
            self._write(b"data: [DONE]" + newline + newline)
        self._end_stream()

    def _write_event(self, name: Optional[str], data: dict, newline: bytes) -> None:
        head = b"event: " + name.encode() + newline if name else b""
        self._write(head + b"data: " + json.dumps(data).encode() + newline + newline)

    def _write_energy(self, exchange: Exchange, newline: bytes) -> None:
        faults = exchange.faults
        if "repeated-energy" in faults:  # an earlier, partial report; the last one is the request's
            partial = {**exchange.energy, "energy_joules": round(exchange.energy["energy_joules"] / 2, 4)}
            exchange.energy_reports.append(partial)
            self._write(b": energy " + json.dumps(partial).encode() + newline)
        exchange.energy_reports.append(exchange.energy)
        if "malformed-second-energy" in faults:
            self._write(b": energy " + json.dumps(exchange.energy).encode() + newline)
            self._write(b': energy {"energy_joules": 99.0, "avg_power' + newline)
            return
        payload = json.dumps(exchange.energy).encode()
        if "deep-energy" in faults:  # deeper than a recursive JSON parser goes
            payload = payload[:-1] + b', "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}"
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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many concurrent clients connect at once in tests
    emulator: Any

    def handle_error(self, request, client_address):
        # A client that stops reading a stream early closes its socket: that is not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
