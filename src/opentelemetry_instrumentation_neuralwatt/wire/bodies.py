"""A raw response body read by the user (`with_streaming_response`'s `.read()`, `.text()`,
`.json()`, `.iter_bytes()`, `.iter_text()`, `.iter_lines()`): whoever reads the bytes that carry
the energy, the call records it. An SSE body goes through a decoder of the SDK's own kind with
our hook on it, as a stream would; a JSON body is read once it is whole.

Sync and async twins (`scanned`/`ascanned`): a loop that awaits cannot be the loop that does not;
everything each piece needs is in `BodyScan`, shared."""

from __future__ import annotations

import codecs
import importlib
import json
import logging
import re
from typing import Any

from . import sse
from .sse_bytes import MAX_COMMENT_LINE

logger = logging.getLogger(__name__)

_LINE_END = re.compile(r"\r\n|\r|\n")
MAX_JSON_BODY = 8 << 20  # a JSON body larger than this is not parsed for energy
# An SSE line is held until its end arrives up to this size, as a stream's comment lines are
# (sse_bytes.py); a longer one is dropped, and so is the rest of it as it arrives.
MAX_LINE = MAX_COMMENT_LINE
_PIECE = 1 << 20  # a whole body is read in pieces of this size, never decoded in one copy


class BodyScan:
    """What one call's user has read of its body so far."""

    def __init__(self, call: Any, raw: Any):
        self.call = call
        # What came after the last line end (SSE), or the JSON body so far: pieces, joined once
        # they are needed, so a long line or body costs linear time however it is cut.
        self.pending: list[str] = []
        self.pending_size = 0
        self.skipping = False  # inside an SSE line that grew past MAX_LINE: dropped up to its end
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
        for start in range(0, len(content), _PIECE):
            self.feed(content[start:start + _PIECE], "bytes")
        self.end()

    def end(self) -> None:
        try:
            rest = "".join(self.pending)
            self.pending = []
            if self.decoder is None:
                if self.pending_size <= MAX_JSON_BODY:
                    self.call.adapter.observe(self.call, json.loads(rest))
            else:
                if rest and not self.skipping:
                    self._line(rest)
                self._line("")
        except Exception:
            logger.debug("neuralwatt: could not read a body", exc_info=True)
        self.call.finish()

    def _text(self, text: str) -> None:
        if self.decoder is None:  # JSON is kept until it is whole, up to its bound
            if self.pending_size <= MAX_JSON_BODY:
                self.pending.append(text)
                self.pending_size += len(text)
            return
        if "\n" not in text and "\r" not in text:  # a piece without a line end lengthens the line
            self._hold(text)
            return
        first, *lines, rest = _LINE_END.split(text)
        if not self.skipping:
            self._hold(first)
        if not self.skipping:
            lines.insert(0, "".join(self.pending))
        self.pending, self.pending_size, self.skipping = [], 0, False
        for line in lines:
            self._line(line)
        self._hold(rest)

    def _hold(self, text: str) -> None:
        if self.skipping:
            return
        if self.pending_size + len(text) > MAX_LINE:
            logger.debug("neuralwatt: dropped an SSE line over %d characters", MAX_LINE)
            self.pending, self.pending_size, self.skipping = [], 0, True
            return
        self.pending.append(text)
        self.pending_size += len(text)

    def _line(self, line: str) -> None:
        if len(line) > MAX_LINE:  # a whole line read at once (`iter_lines`) is held to the same bound
            return
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
