"""Capture on decoders that cut the body into events before decoding lines (anthropic's, and
openai's before 3.x: `SSEDecoder._iter_chunks`): one cheap look per event instead of a hook per line.

Such a decoder yields each event's bytes (up to its blank line) to its own line loop. We wrap that
chunker, per decoder instance, and look at each event's bytes once, in C: a comment line (`:` at
a line start) or an MCR status frame is rare, and only then are its lines read (`sse.py` keeps
them, as the line hook does for openai 3.x). A status frame the user asked to hide is dropped
before the SDK sees it.

The chunker also holds the lines after the last blank line until the next one comes: a trailing
`: energy` is received but not yet cut out when the connection then fails. The bytes it is fed
remember that tail, and on a failure its comment lines are kept before the error goes on, so a
stream that fails after its energy arrived keeps it.
"""

from __future__ import annotations

import logging
from typing import Any

from . import sse
from .energy import MAX_PAYLOAD_CHARS

logger = logging.getLogger(__name__)

_BLANK_LINE = (b"\n\n", b"\r\n\r\n", b"\r\r")
_STATUS = b"mcr-status"


def hook_chunker(decoder: Any) -> bool:
    """Capture at this decoder's chunker, once; False when it has none (then hook `decode`)."""
    try:
        chunks, achunks = getattr(decoder, "_iter_chunks", None), getattr(decoder, "_aiter_chunks", None)
        if chunks is None or achunks is None:
            return False
        if getattr(decoder, "_neuralwatt_chunks", False):
            return True
        decoder._iter_chunks = lambda iterator: _events(decoder, chunks(_tail_kept(decoder, iterator)))
        decoder._aiter_chunks = lambda iterator: _aevents(decoder, achunks(_atail_kept(decoder, iterator)))
        decoder._neuralwatt_chunks = True
        return True
    except Exception:  # a decoder that refuses attributes keeps working without us
        logger.debug("neuralwatt: could not hook an SSE chunker", exc_info=True)
        return False


def _events(decoder: Any, chunks: Any):
    for chunk in chunks:
        # One look, in C: most events have no comment line and are no status frame.
        if chunk[:1] == b":" or b"\n:" in chunk or b"\r:" in chunk or _STATUS in chunk:
            if not _read(decoder, chunk):
                continue
        yield chunk


async def _aevents(decoder: Any, chunks: Any):
    async for chunk in chunks:
        if chunk[:1] == b":" or b"\n:" in chunk or b"\r:" in chunk or _STATUS in chunk:
            if not _read(decoder, chunk):
                continue
        yield chunk


def _read(decoder: Any, chunk: bytes) -> bool:
    """Keep an event's comments and status frame; False to drop a status frame the user asked to hide."""
    try:
        lines = chunk.decode("utf-8", "replace").splitlines()
        status = False
        data = []
        for line in lines:
            if line[:1] == ":":
                sse.remember_comment(decoder, line)
            elif line.startswith("event:") and line[6:].strip() == "mcr-status":
                status = True
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if status:
            sse.remember_status(decoder, "\n".join(data))
            return not sse.options.hide_mcr_status
    except Exception:
        logger.debug("neuralwatt: SSE capture failed", exc_info=True)
    return True


def _cut(tail: list, chunk: bytes) -> None:
    """The bytes after the last blank line seen (pieces; a blank line split across reads keeps a
    little more, which does no harm: only comment lines are read from it)."""
    end = max(chunk.rfind(mark) + len(mark) if mark in chunk else -1 for mark in _BLANK_LINE)
    if end >= 0:
        tail[:] = [chunk[end:]]
    elif len(tail) < 1024:
        tail.append(chunk)


def _salvage(decoder: Any, tail: list) -> None:
    try:
        for line in b"".join(tail)[-MAX_PAYLOAD_CHARS * 4:].splitlines(keepends=True):
            if line.startswith(b":") and line.endswith((b"\n", b"\r")):
                sse.remember_comment(decoder, line.rstrip(b"\r\n").decode("utf-8", "replace"))
    except Exception:
        logger.debug("neuralwatt: could not read what came before a failure", exc_info=True)


def salvage_pending(decoder: Any) -> None:
    """Keep the comments the chunker still holds (no blank line after them yet): a stream given up
    on while the server has not ended it (see stream_helpers.py)."""
    tail = getattr(decoder, "_neuralwatt_tail", None)
    if tail:
        _salvage(decoder, list(tail))


def _tail_kept(decoder: Any, iterator: Any):
    tail: list = []
    decoder._neuralwatt_tail = tail
    try:
        for chunk in iterator:
            _cut(tail, chunk)
            yield chunk
    except GeneratorExit:
        raise
    except BaseException:
        _salvage(decoder, tail)
        raise


async def _atail_kept(decoder: Any, iterator: Any):
    tail: list = []
    decoder._neuralwatt_tail = tail
    try:
        async for chunk in iterator:
            _cut(tail, chunk)
            yield chunk
    except GeneratorExit:
        raise
    except BaseException:
        _salvage(decoder, tail)
        raise
