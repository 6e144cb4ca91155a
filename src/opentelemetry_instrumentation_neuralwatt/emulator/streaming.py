"""How the emulator writes a stream: events, faults along the way (a dropped connection, an error
event, keep-alives, MCR status frames), then `: mcr-session`, `: energy` and `: cost` comments and,
for openai's chat and completions, `data: [DONE]`; chunked, as the live service sends it."""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING, Any

from .wire import Answer, Exchange

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler as _Handler
else:
    _Handler = object


ENDLESS_LINE_MB = 200


class StreamWriter(_Handler):
    """Mixed into the HTTP handler: the SSE side of an answer."""

    server: Any  # the emulator's HTTP server, which knows its `emulator`

    def _stream(self, exchange: Exchange, answer: Answer) -> None:
        faults = exchange.faults
        exchange.stream = True
        newline = b"\r\n" if "crlf" in faults else b"\n"
        events = list(answer.events or ())
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
        # The connection fails after the energy arrived: dropped, or stalled past a read timeout.
        if "disconnect-after-energy" in faults:
            self._drop_connection()
            return
        if "stall-after-energy" in faults:
            time.sleep(2.0)
            self._drop_connection()
            return
        if answer.done:
            self._write(b"data: [DONE]" + newline + newline)
        if "endless-line" in faults:  # then one line that never ends: 200 MB, and the body ends
            for _ in range(ENDLESS_LINE_MB):
                self._write(b"x" * (1 << 20))
        self._end_stream()

    def _write_event(self, name: str | None, data: dict, newline: bytes) -> None:
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
        if "string-energy" in faults:  # the object's JSON text, as a JSON string
            payload = json.dumps(payload.decode()).encode()
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
