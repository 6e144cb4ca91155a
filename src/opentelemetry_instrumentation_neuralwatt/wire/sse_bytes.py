"""Capture in the bytes of a stream, as they arrive: the SDK decoder's `iter_bytes` / `aiter_bytes`
(the `SSEBytesDecoder` protocol both SDKs' decoders follow) is wrapped, per decoder instance.

A `CommentScanner` reads each piece of the body as the network gives it: one look in C finds
whether a line in it starts with `:`; only then are its comment lines kept on the decoder (see
`sse.py`), a line split across reads included. So the comments cost one look per network read,
not a hook per line, and a trailing `: energy` is kept as soon as its bytes arrived: a stream that
then fails, stalls or is dropped keeps it, whatever the decoder still held.

An MCR status frame (`event: mcr-status`) is an event: the user may ask to have it hidden, so the
decoded events pass through us too, but are only looked at once a piece of the body held that name.

Sync and async twins (`_scanned`/`_ascanned`, `_events`/`_aevents`, and the two hooks): loops that await
cannot be the loops that do not; per piece and per event they share `_feed` and `_status_frame`.
"""

from __future__ import annotations

import logging
from typing import Any

from . import sse

logger = logging.getLogger(__name__)

_STATUS = b"mcr-status"
_STATUS_EVENT = "mcr-status"
_NEWLINES = (b"\n", b"\r")
# A comment line is held until its end arrives, up to this size (the SDK's chunker holds it too);
# a larger one is dropped. Its payload is then kept compact (`sse.remember_comment`).
MAX_COMMENT_LINE = 16 * 1024 * 1024


class CommentScanner:
    """The comment lines of one body, kept on `target` as they pass (see `sse.remember_comment`)."""

    __slots__ = ("target", "carry", "carried", "status", "mid_line", "edge")

    def __init__(self, target: Any) -> None:
        self.target = target
        self.carry: list = []  # the pieces of a comment line whose end has not arrived yet
        self.carried = 0
        self.status = False  # a piece held an MCR status frame's name
        self.mid_line = False  # the last piece ended inside a line
        self.edge = b""  # then, its last bytes: a status frame's name may be cut across pieces

    def feed(self, piece: bytes) -> None:
        mid_line, self.mid_line = self.mid_line, piece[-1:] not in _NEWLINES
        if not self.status and (_STATUS in piece or mid_line and _STATUS in self.edge + piece[:len(_STATUS)]):
            self.status = True
        # The bytes of the unfinished line the piece ends in, as many as a name cut in two needs.
        self.edge = (self.edge + piece)[1 - len(_STATUS):] if self.mid_line else b""
        if self.carry:
            end = _line_end(piece)
            if end < 0:
                self._hold(piece)
                return
            self._hold(piece[:end])
            line, self.carry, self.carried = b"".join(self.carry), [], 0
            self._line(line)
            piece, mid_line = piece[end:], False
        at = _comment_start(piece, 0, mid_line)
        while at >= 0:  # only the comment lines are touched, not every line of the piece
            end = _line_end(piece, at)
            if end < 0:  # only the last line can be unfinished
                self._hold(piece[at:])
                return
            self._line(piece[at:end])
            at = _comment_start(piece, end)

    def _hold(self, piece: bytes) -> None:
        self.carried += len(piece)
        if self.carried <= MAX_COMMENT_LINE:
            self.carry.append(piece)
        else:
            logger.debug("neuralwatt: dropped a comment line over %d bytes", MAX_COMMENT_LINE)
            self.carry, self.carried = [], 0

    def _line(self, line: bytes) -> None:
        if line[:1] == b":":
            sse.remember_comment(self.target, line.rstrip(b"\r\n").decode("utf-8", "replace"))

    def end(self) -> None:
        """The body ended: a last comment line without a newline is a line too."""
        if self.carry:
            line, self.carry, self.carried = b"".join(self.carry), [], 0
            self._line(line)


def _line_end(piece: bytes, start: int = 0) -> int:
    """The index just after the first line end in `piece` from `start`, or -1."""
    ends = [i for i in (piece.find(b"\n", start), piece.find(b"\r", start)) if i >= 0]
    return min(ends) + 1 if ends else -1


def _comment_start(piece: bytes, start: int, mid_line: bool = False) -> int:
    """Where the next line starting with `:` begins, from `start` (a line start unless `mid_line`),
    or -1. One search in C when there is none; a CR search only in a body that has CRs."""
    if not mid_line and piece[start:start + 1] == b":":
        return start
    found = piece.find(b"\n:", start)
    if b"\r" in piece:
        cr = piece.find(b"\r:", start)
        found = cr if found < 0 or 0 <= cr < found else found
    return found + 1 if found >= 0 else -1


def hook_bytes(decoder: Any) -> bool:
    """Capture at this decoder's `iter_bytes` / `aiter_bytes`, once; False when it has none."""
    try:
        iter_bytes, aiter_bytes = getattr(decoder, "iter_bytes", None), getattr(decoder, "aiter_bytes", None)
        if not callable(iter_bytes) or not callable(aiter_bytes):
            return False
        if getattr(decoder, "_neuralwatt_bytes", False):
            return True

        def hooked(iterator):
            scanner = CommentScanner(decoder)
            return _events(decoder, scanner, iter_bytes(_scanned(scanner, iterator)))

        def ahooked(iterator):
            scanner = CommentScanner(decoder)
            return _aevents(decoder, scanner, aiter_bytes(_ascanned(scanner, iterator)))

        decoder.iter_bytes, decoder.aiter_bytes = hooked, ahooked
        decoder._neuralwatt_bytes = True
        return True
    except Exception:  # a decoder that refuses attributes keeps working without us
        logger.debug("neuralwatt: could not hook an SSE decoder's bytes", exc_info=True)
        return False


def _feed(scanner: CommentScanner, piece: bytes) -> None:
    try:
        scanner.feed(piece)
    except Exception:  # never let capture break decoding
        logger.debug("neuralwatt: SSE capture failed", exc_info=True)


def _scanned(scanner: CommentScanner, iterator: Any):
    for piece in iterator:
        _feed(scanner, piece)
        yield piece
    scanner.end()


async def _ascanned(scanner: CommentScanner, iterator: Any):
    async for piece in iterator:
        _feed(scanner, piece)
        yield piece
    scanner.end()


def _events(decoder: Any, scanner: CommentScanner, events: Any):
    for event in events:
        # Only once a piece of the body held the name is an event looked at.
        if scanner.status and getattr(event, "event", None) == _STATUS_EVENT and _status_frame(decoder, event):
            continue
        yield event


async def _aevents(decoder: Any, scanner: CommentScanner, events: Any):
    async for event in events:
        if scanner.status and getattr(event, "event", None) == _STATUS_EVENT and _status_frame(decoder, event):
            continue
        yield event


def _status_frame(decoder: Any, event: Any) -> bool:
    """Keep an MCR status frame for the span; True to drop it (the user asked to hide them)."""
    try:
        sse.remember_status(decoder, event.data)
    except Exception:
        logger.debug("neuralwatt: could not keep an MCR status frame", exc_info=True)
    return sse.options.hide_mcr_status
