"""A raw response body read by the user (`with_streaming_response`'s `.read()`, `.text()`,
`.json()`, `.iter_bytes()`, `.iter_text()`, `.iter_lines()`): whoever reads the bytes that carry
the energy, the call records it. An SSE body goes through a decoder of the SDK's own kind with
our hook on it, as a stream would; a JSON body is read once it is whole."""

from __future__ import annotations

import codecs
import importlib
import json
import logging
import re
from typing import Any

from . import sse

logger = logging.getLogger(__name__)

_LINE_END = re.compile(r"\r\n|\r|\n")
MAX_JSON_BODY = 8 << 20  # a JSON body larger than this is not parsed for energy


class BodyScan:
    """What one call's user has read of its body so far."""

    def __init__(self, call: Any, raw: Any):
        self.call = call
        # What came after the last line end (SSE), or the JSON body so far: pieces, joined once
        # they are needed, so a long line or body costs linear time however it is cut.
        self.pending: list[str] = []
        self.pending_size = 0
        self.bytes = codecs.getincrementaldecoder("utf-8")("replace")
        content_type = raw.http_response.headers.get("content-type", "")
        self.decoder = None
        if content_type.startswith("text/event-stream"):
            self.decoder = importlib.import_module(f"{call.adapter.package}._streaming").SSEDecoder()
            sse.hook_decoder(self.decoder)
            call.decoder = self.decoder

    def feed(self, piece: Any, kind: str) -> None:
        try:
            if kind == "lines":
                if self.decoder is None:  # a JSON body read line by line: its lines, joined
                    self._text(piece + "\n")
                else:
                    self._line(piece)
            else:
                self._text(self.bytes.decode(piece) if kind == "bytes" else piece)
        except Exception:
            logger.debug("neuralwatt: could not read a body piece", exc_info=True)

    def whole(self, content: bytes) -> None:
        """The whole body, read at once, and the end of the call."""
        self.feed(content, "bytes")
        self.end()

    def end(self) -> None:
        try:
            rest = "".join(self.pending)
            if self.decoder is None:
                if self.pending_size <= MAX_JSON_BODY:
                    self.call.adapter.observe(self.call, json.loads(rest))
            else:
                if rest:
                    self._line(rest)
                self._line("")
        except Exception:
            logger.debug("neuralwatt: could not read a body", exc_info=True)
        self.call.finish()

    def _text(self, text: str) -> None:
        if self.decoder is None or ("\n" not in text and "\r" not in text):
            # JSON is kept until it is whole (up to its bound); an SSE piece without a line end
            # only lengthens the current line.
            if self.decoder is not None or self.pending_size <= MAX_JSON_BODY:
                self.pending.append(text)
                self.pending_size += len(text)
            return
        *lines, rest = _LINE_END.split("".join(self.pending) + text)
        self.pending, self.pending_size = [rest], len(rest)
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        event = self.decoder.decode(line) if self.decoder is not None else None
        if event is None or not event.data or event.data.startswith("[DONE]"):
            return
        try:
            data = json.loads(event.data)
        except ValueError:
            return
        if isinstance(data, dict):
            self.call.adapter.observe(self.call, data)


def scanned(scan: BodyScan, pieces, kind: str):
    """The user's iteration over the body, read along the way."""
    for piece in pieces:
        scan.feed(piece, kind)
        yield piece
    scan.end()


async def ascanned(scan: BodyScan, pieces, kind: str):
    async for piece in pieces:
        scan.feed(piece, kind)
        yield piece
    scan.end()
