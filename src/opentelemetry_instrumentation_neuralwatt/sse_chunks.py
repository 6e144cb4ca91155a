"""Capture on decoders that cut the body into events before decoding lines (anthropic's, and
openai's before 3.x: `SSEDecoder._iter_chunks`): the bytes are looked at as they arrive from the
network, once per read, not once per line or event.

A `CommentScanner` reads each piece of the body: one look in C finds whether a line in it starts
with `:`; only then are its comment lines kept, a line split across reads included. They are held
until the chunker has passed them: they reach the decoder (where `sse.py` keeps them for openai
3.x's line hook too) when the body is read to its end, or fails, or is given up on
(`commit_received`); a trailing `: energy` the chunker still holds (no blank line after it yet)
is kept then too. A stream the user stops reading early gets none, as with the line hook.

An MCR status frame (`event: mcr-status`) is an event: the user may ask to have it hidden, so the
events the chunker cuts pass through us too, but are only looked at once a piece of the body
held that name.
"""

from __future__ import annotations

import logging
from typing import Any

from . import sse

logger = logging.getLogger(__name__)

_STATUS = b"mcr-status"
_NEWLINES = (b"\n", b"\r")
# A comment line is held until its end arrives, up to this size (the SDK's chunker holds it too);
# a larger one is dropped. Its payload is then kept compact (`sse.remember_comment`).
_MAX_LINE = 16 * 1024 * 1024


class CommentScanner:
    """The comment lines of one body, kept on `target` as they pass (see `sse.remember_comment`)."""

    __slots__ = ("target", "carry", "carried", "status", "mid_line")

    def __init__(self, target: Any) -> None:
        self.target = target
        self.carry: list = []  # the pieces of a comment line whose end has not arrived yet
        self.carried = 0
        self.status = False  # a piece held an MCR status frame's name
        self.mid_line = False  # the last piece ended inside a line

    def feed(self, piece: bytes) -> None:
        if _STATUS in piece:
            self.status = True
        mid_line, self.mid_line = self.mid_line, piece[-1:] not in _NEWLINES
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
        if self.carried <= _MAX_LINE:
            self.carry.append(piece)
        else:
            logger.debug("neuralwatt: dropped a comment line over %d bytes", _MAX_LINE)
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


class _Held:
    """Comments received but not yet passed by the chunker (the same store as a decoder's)."""


def _commit(decoder: Any, held: _Held) -> None:
    """Hand the held comments to the decoder, in the order they came."""
    try:
        for name, items in list(vars(held).items()):
            delattr(held, name)
            for item in items:
                sse.remember_kept(decoder, name, item)
    except Exception:
        logger.debug("neuralwatt: SSE capture failed", exc_info=True)


def commit_received(decoder: Any) -> None:
    """A stream given up on while it is read (see stream_helpers.py): keep what has arrived."""
    held = getattr(decoder, "_neuralwatt_held", None)
    if isinstance(held, _Held):
        _commit(decoder, held)


def hook_chunker(decoder: Any) -> bool:
    """Capture at this decoder's chunker, once; False when it has none (then hook `decode`)."""
    try:
        chunks, achunks = getattr(decoder, "_iter_chunks", None), getattr(decoder, "_aiter_chunks", None)
        if chunks is None or achunks is None:
            return False
        if getattr(decoder, "_neuralwatt_chunks", False):
            return True

        def iter_chunks(iterator):
            scanner = _scanner(decoder)
            return _events(decoder, scanner, chunks(_scanned(scanner, iterator)))

        def aiter_chunks(iterator):
            scanner = _scanner(decoder)
            return _aevents(decoder, scanner, achunks(_ascanned(scanner, iterator)))

        decoder._iter_chunks, decoder._aiter_chunks = iter_chunks, aiter_chunks
        decoder._neuralwatt_chunks = True
        return True
    except Exception:  # a decoder that refuses attributes keeps working without us
        logger.debug("neuralwatt: could not hook an SSE chunker", exc_info=True)
        return False


def _scanner(decoder: Any) -> CommentScanner:
    decoder._neuralwatt_held = held = _Held()
    return CommentScanner(held)


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


def _events(decoder: Any, scanner: CommentScanner, chunks: Any):
    try:
        for chunk in chunks:
            if scanner.status and _STATUS in chunk and not _status_frame(decoder, chunk):
                continue
            yield chunk
    except GeneratorExit:  # the user stopped reading: what was not passed yet is not theirs
        raise
    except BaseException:  # the body failed: what it carried before is kept
        _commit(decoder, scanner.target)
        raise
    _commit(decoder, scanner.target)


async def _aevents(decoder: Any, scanner: CommentScanner, chunks: Any):
    try:
        async for chunk in chunks:
            if scanner.status and _STATUS in chunk and not _status_frame(decoder, chunk):
                continue
            yield chunk
    except GeneratorExit:
        raise
    except BaseException:
        _commit(decoder, scanner.target)
        raise
    _commit(decoder, scanner.target)


def _status_frame(decoder: Any, chunk: bytes) -> bool:
    """Keep an MCR status frame; False to drop one the user asked to hide."""
    try:
        status, data = False, []
        for line in chunk.decode("utf-8", "replace").splitlines():
            if line.startswith("event:") and line[6:].strip() == "mcr-status":
                status = True
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if status:
            sse.remember_status(decoder, "\n".join(data))
            return not sse.options.hide_mcr_status
    except Exception:
        logger.debug("neuralwatt: SSE capture failed", exc_info=True)
    return True
