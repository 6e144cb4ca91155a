"""Streams a client middleware reads for the user (anthropic's `BetaRefusalFallbackMiddleware`).

Such a middleware reads each HTTP response of the call (a *hop*) itself and hands the user a new
stream made of the events it forwards: the `: energy` comment after a hop's last event is not
among them, and a refused hop is closed right after its refusal, before its energy was read. So
the body of each hop is watched as it passes, whoever reads it: its comment lines are kept on the
hop (the same store a decoder has, see `sse.py`). A hop the middleware stops reading after its
answer was complete (its `message_delta` came) has the rest of its body read first, bounded like
a failing stream helper's (`rest.py`; TRAILER_BYTES). The middleware sends the next hop while the
user reads the stream; the stream proxies make the call current then (`stream_items.py`), so that
hop is followed too, not taken for another call. Each hop is a request the server measured: the
call's energy is the sum of its hops' (`energy.total`).

Sync and async twins (`_HopBody.__iter__`/`__aiter__`, `close`/`aclose`, `_rest_of`/`_arest_of`): the
async ones await the body where the sync ones read it; per piece they share `_feed` and `_taker`.
"""

from __future__ import annotations

import logging
from typing import Any

import wrapt

from ..wire import sse
from ..wire.energy import Measurement, measurement, total
from ..wire.sse_bytes import CommentScanner
from . import rest

logger = logging.getLogger(__name__)

TRAILER_BYTES = 64 * 1024  # read at most, for at most rest.SECONDS
# The event that completes an answer, after which only `message_stop` and the comments are left.
_ANSWERED = b"message_delta"


class Hop(CommentScanner):
    """One HTTP response of a call read by a middleware: its comments, kept on itself as they pass."""

    __slots__ = ("answered", "pieces", "__dict__")  # the comment store: attributes (see sse.py)

    def __init__(self) -> None:
        super().__init__(self)
        self.answered = False
        self.pieces: Any = None  # the iterator over the body while it is being read

    def feed(self, piece: bytes) -> None:
        if not self.answered and _ANSWERED in piece:
            self.answered = True
        super().feed(piece)

    def end(self) -> None:
        self.pieces = None
        super().end()


def follow(hops: list, response: Any) -> None:
    """Watch the body of this HTTP response (httpx's or httpx2's, not read yet) as a hop."""
    hop = Hop()
    response.stream = _HopBody(response.stream, hop)
    hops.append(hop)


def whole(hops: list, response: Any) -> None:
    """A whole response a middleware reads: its body's `energy` and `cost` objects, as a hop."""
    if not response.is_stream_consumed:
        return
    try:
        body = response.json()
    except ValueError:  # not JSON: no energy in it, and the SDK says so to the user itself
        return
    if isinstance(body, dict):
        hop = Hop()
        for field, name in (("energy", sse.ENERGY_COMMENT), ("cost", sse.COST_COMMENT)):
            if isinstance(body.get(field), dict):
                setattr(hop, name, [body[field]])
        hops.append(hop)


def measured(hops: list, fallback_cost: Any) -> Measurement | None:
    """The call's measurement: each hop's last valid report, summed over the hops that reported;
    the response headers' cost when a single report had none."""
    reports = [report for hop in hops if (report := sse.captured(hop)) is not None]
    if len(reports) > 1:
        return total(reports)
    if not reports:
        return None
    only = reports[0]
    return only if only.cost is not None or fallback_cost is None else measurement(only.energy, fallback_cost)


class _HopBody(wrapt.ObjectProxy):
    """A hop's byte stream (it passes the SDKs' `isinstance` checks as the stream it wraps)."""

    def __init__(self, body: Any, hop: Hop) -> None:
        super().__init__(body)
        self._self_hop = hop

    def __iter__(self):
        hop = self._self_hop
        hop.pieces = pieces = iter(self.__wrapped__)
        try:
            for piece in pieces:
                _feed(hop, piece)
                yield piece
        except GeneratorExit:  # the reader stopped (a refusal): the HTTP stream closes after this
            _rest_of(hop)
            raise
        hop.end()

    async def __aiter__(self):
        hop = self._self_hop
        hop.pieces = pieces = self.__wrapped__.__aiter__()
        try:
            async for piece in pieces:
                _feed(hop, piece)
                yield piece
        except GeneratorExit:
            await _arest_of(hop)
            raise
        hop.end()

    # Closing the response may come first: an async generator the reader left is only closed
    # later, by the event loop.
    def close(self) -> None:
        _rest_of(self._self_hop)
        self.__wrapped__.close()

    async def aclose(self) -> None:
        await _arest_of(self._self_hop)
        await self.__wrapped__.aclose()


def _rest_of(hop: Hop) -> None:
    """The rest of a hop left after its answer completed, read once and bounded (rest.py)."""
    if hop.answered and hop.pieces is not None:
        pieces, hop.pieces = hop.pieces, None
        rest.read_rest(pieces, _taker(hop), hop.end)


async def _arest_of(hop: Hop) -> None:
    if hop.answered and hop.pieces is not None:
        pieces, hop.pieces = hop.pieces, None
        await rest.aread_rest(pieces, _taker(hop), hop.end)


def _taker(hop: Hop):
    read = [0]

    def take(piece: bytes) -> bool:
        _feed(hop, piece)
        read[0] += len(piece)
        return read[0] < TRAILER_BYTES

    return take


def _feed(hop: Hop, piece: bytes) -> None:
    try:
        hop.feed(piece)
    except Exception:  # never let capture break the middleware's read
        logger.debug("neuralwatt: could not read a hop's bytes", exc_info=True)
