"""The anthropic SDK's own span (anthropic 2.x traces itself by default): adopted as the call's
span, and our call ended just before the SDK ends it.

Its span is started by `start_api_call_span` (sync and async clients alike; `adopt_sdk_span`
adopts what it returns), is current while the SDK makes the request, and ends when a whole
response has been processed or a stream's body has ended. One call must not get two GenAI spans:
our attributes go on the SDK's span, set before it ends.
"""

from __future__ import annotations

import logging
from typing import Any

from ..call.invocation import pending
from ..call.stream_items import finish_stream

logger = logging.getLogger(__name__)


def end_before_sdk(call: Any, stream: Any) -> None:
    """The SDK ends its span when the body of a stream (or of a raw or streaming response)
    ends (`stream_observer.end`), after the trailing `: energy` comment went through the
    decoder, or before the user read the body: end ours just before that."""
    response = getattr(stream, "response", None) or getattr(stream, "http_response", None)
    body = getattr(response, "stream", None)
    observer = getattr(body, "stream_observer", None)
    if body is not None and observer is not None and not isinstance(observer, _EndOursFirst):
        body.stream_observer = _EndOursFirst(observer, call)


class _EndOursFirst:
    """The SDK's stream observer, with our call ended before the SDK's span is."""

    def __init__(self, inner: Any, call: Any) -> None:
        self.inner, self._call = inner, call
        self._held = False

    def __getattr__(self, name):  # begin, item and whatever a later SDK adds
        # Kept on the instance: `item` is asked for once per event, and a lookup that reaches
        # `__getattr__` costs more than the SDK's own work for the event.
        value = getattr(self.inner, name)
        setattr(self, name, value)
        return value

    def end(self, how: Any, error: Any = None) -> None:
        call = self._call
        if error is not None and not call.ended and not self._held:
            # The body failed: the bytes it had received are read on the way up (sse.py), after
            # this. Hold the SDK's end until our stream proxy has the error and ends the call.
            self._held = True
            call.on_end = lambda: self._end_sdk(how, error)
            return
        if error is None and not call.ended and (how == "read") != self._held:
            # The body reports "read" as soon as its last bytes arrive (and "closed" right after),
            # before the decoder has read the lines after the last blank line: a trailing
            # `: energy`. The stream reports "read" again once it has decoded everything. Hold
            # the SDK's end until then, or until our stream proxy ends the call.
            if not self._held:
                self._held = True
                call.on_end = lambda: self._end_sdk(how, None)
            return
        try:
            if error is not None:  # what the stream carried before it failed is kept
                call.finish(error)
            elif call.failing is not None:  # see _end_sdk
                call.finish(call.failing)
            else:
                finish_stream(call)
        except Exception:
            logger.debug("neuralwatt: could not end a call before the SDK's span", exc_info=True)
        self._end_sdk(how, error)

    def _end_sdk(self, how: Any, error: Any) -> None:
        if error is None and self._call.failing is not None:
            # A stream helper raised on an event, and the rest of the body was read for the energy
            # (stream_helpers.py): our call ended with the helper's error; the SDK hears what it
            # would have without that read, an application that stopped reading (which keeps the
            # ERROR status, where "read" would set OK).
            how = "closed"
        self.inner.end(how, error)  # the SDK's FirstEnd drops a second end


def adopt_sdk_span(wrapped, instance, args, kwargs):
    """On the SDK's `start_api_call_span`, which a client with its tracing off never calls: a
    client without the SDK's span pays nothing here. It returns None for no span."""
    span = wrapped(*args, **kwargs)
    call = pending.get()
    if call is not None and span is not None and call.span is None:
        try:
            call.adopt(span)
        except Exception:
            logger.debug("neuralwatt: could not adopt the SDK's span", exc_info=True)
    return span
