"""The emulator's HTTP server: routes a request to its wire format, injects faults, and writes
what the wire format answers (a JSON body, or an SSE stream ending in the energy comments)."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import wire_anthropic, wire_openai, wire_responses
from .streaming import StreamWriter
from .wire import CREATED, Exchange, Turn

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


class Handler(StreamWriter, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production HTTP servers have it: with Nagle's algorithm a response's headers
    # and body go in two segments and the second waits for the client's delayed ACK (about 45 ms a
    # whole call on loopback, the client asleep in recv()).
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format, *args):  # quiet: tests and demos print their own output
        pass

    # -- plumbing --
    def _faults(self) -> frozenset:
        names = {f.strip() for f in self.headers.get(FAULT_HEADER, "").split(",") if f.strip()}
        return frozenset(names | set(self.server.emulator.faults))

    def _send_json(self, status: int, body: Any, headers: dict | None = None) -> None:
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
        path = self.path.split("?")[0].rstrip("/")
        if path == "/v1/quota":
            self._quota()
        elif path == "/v1/models":
            data = [{"id": name, "object": "model", "created": CREATED, "owned_by": name.split("/")[0],
                     "max_model_len": context, "type": kind} for name, kind, context in MODELS]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def _quota(self) -> None:
        """The account's balance, subscription and key allowance; as the live service, at most one
        request a second (otherwise a 429 with an empty body and `Retry-After: 0`, as it sends)."""
        emulator = self.server.emulator
        exchange = Exchange(path="/v1/quota", request={}, faults=self._faults())
        emulator._record(exchange)
        if self._http_fault(exchange):
            return
        if not emulator._quota_allowed():
            exchange.status = 429
            self._send_empty(429, {"Retry-After": "0"})
            return
        self._send_json(200, emulator._sessions.quota(subscription="no-subscription" not in exchange.faults))
        emulator._log(exchange)

    def do_POST(self):
        emulator = self.server.emulator
        path = self.path.split("?")[0].rstrip("/")
        body = self._read_body()
        exchange = Exchange(path=path, request=body, faults=self._faults())
        exchange.headers = {k.lower(): v for k, v in self.headers.items()
                            if k.lower() not in ("authorization", "x-api-key")}
        route = ROUTES.get(path)
        # Recorded before anything is sent: a client that has its answer finds its exchange here.
        emulator._record(exchange)
        if self._http_fault(exchange):
            return
        if route is None:
            exchange.status = 404
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        answer = route(Turn(emulator, exchange, body))
        if answer.events is None:
            self._send_json(200, answer.body, exchange.response_headers)
        else:
            self._stream(exchange, answer)
        emulator._log(exchange)

    def _http_fault(self, exchange: Exchange) -> bool:
        faults = exchange.faults
        first_try = self.server.emulator._first_time(exchange.request) if "http-500-once" in faults else True
        if "http-400-echo" in faults:  # as some servers do: the error message echoes the request
            exchange.status = 400
            self._send_json(400, {"error": {"message": f"Invalid request: {json.dumps(exchange.request)[:2000]}",
                                            "type": "invalid_request_error", "code": "invalid_value"}})
            return True
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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many concurrent clients connect at once in tests
    emulator: Any

    def handle_error(self, request, client_address):
        # A client that stops reading a stream early closes its socket: that is not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
