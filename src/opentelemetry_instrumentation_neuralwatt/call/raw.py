"""The proxy for a raw response (`with_raw_response` streams, `with_streaming_response`): the
call passes to whatever `.parse()` builds, or is read from the body the user reads itself, or ends
without energy when the response is closed or collected unread."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from ..wire.bodies import BodyScan, ascanned, scanned
from .invocation import Invocation
from .proxy import CallProxy

logger = logging.getLogger(__name__)


class RawResponseProxy(CallProxy):
    """A `with_raw_response` stream or a `with_streaming_response` response.

    The span passes to whatever `.parse()` builds (a stream proxy or a parsed model); a raw
    response that is closed or collected before `.parse()` ends the span without energy.
    """

    def __init__(self, raw, call: Invocation, take):
        super().__init__(raw, call)
        self._self_take = take  # `take.take`, handed in: what `.parse()` builds is taken as a result is
        self._self_parsed: tuple[Any, Any] | None = None  # (what the SDK parsed, what we handed out)

    def _self_like(self, wrapped):
        return RawResponseProxy(wrapped, self._self_call, self._self_take)

    def parse(self, *args, **kwargs):
        parsed = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(parsed):  # AsyncAPIResponse.parse is a coroutine
            return self._self_parse_later(parsed)
        return self._self_hand_over(parsed)

    async def _self_parse_later(self, pending):
        return self._self_hand_over(await pending)

    def _self_hand_over(self, parsed):
        # The SDK caches parse() results: hand out the same proxy for the same object.
        if self._self_parsed is not None and self._self_parsed[0] is parsed:
            return self._self_parsed[1]
        handed = self._self_take(self._self_call, parsed)
        self._self_parsed = (parsed, handed)
        return handed

    # -- the body read as bytes, text or JSON: whoever reads the energy, the call records it --
    def read(self, *args, **kwargs):
        return self._self_whole(self.__wrapped__.read(*args, **kwargs))

    def text(self, *args, **kwargs):
        return self._self_whole(self.__wrapped__.text(*args, **kwargs))

    def json(self, *args, **kwargs):
        return self._self_whole(self.__wrapped__.json(*args, **kwargs))

    def iter_bytes(self, *args, **kwargs):
        return self._self_pieces(self.__wrapped__.iter_bytes(*args, **kwargs), "bytes")

    def iter_text(self, *args, **kwargs):
        return self._self_pieces(self.__wrapped__.iter_text(*args, **kwargs), "text")

    def iter_lines(self, *args, **kwargs):
        return self._self_pieces(self.__wrapped__.iter_lines(*args, **kwargs), "lines")

    def _self_whole(self, result):
        if inspect.isawaitable(result):  # AsyncAPIResponse
            return self._self_whole_later(result)
        self._self_read_whole()
        return result

    async def _self_whole_later(self, pending):
        result = await pending
        self._self_read_whole()
        return result

    def _self_read_whole(self):
        call = self._self_call
        if not call.ended:
            try:
                BodyScan(call, self.__wrapped__).whole(self.__wrapped__.http_response.content)
            except Exception:
                logger.debug("neuralwatt: could not read the body", exc_info=True)

    def _self_pieces(self, pieces, kind: str):
        call = self._self_call
        if call.ended:
            return pieces
        try:
            scan = BodyScan(call, self.__wrapped__)
        except Exception:
            logger.debug("neuralwatt: could not read the body", exc_info=True)
            return pieces
        return ascanned(scan, pieces, kind) if hasattr(pieces, "__aiter__") else scanned(scan, pieces, kind)

    def close(self):
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._self_close_later(result)
        self._self_release()
        return result

    async def _self_close_later(self, pending):
        try:
            return await pending
        finally:
            self._self_release()

    def _self_release(self):
        if self._self_parsed is None:
            self._self_call.end()

    def _self_collected(self):  # unread, and never parsed: the call ends without energy
        return self._self_call.end if self._self_parsed is None else None
