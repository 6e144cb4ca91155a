"""What the SDK returned becomes what the user gets: a whole response ends its call now; a stream,
a raw response or a streaming response is handed over inside a proxy that ends it exactly once
(`streams.py`, `raw.py`). An error the SDK raised ends the call too, with whatever energy arrived."""

from __future__ import annotations

import logging
from typing import Any

from ..telemetry import foreign
from ..wire import sse, sse_bytes
from .invocation import Invocation
from .raw import RawResponseProxy
from .streams import AsyncStreamProxy, StreamProxy

logger = logging.getLogger(__name__)


def take(call: Invocation, result: Any) -> Any:
    """What the SDK returned -> what the user gets: the result itself or a proxy around it."""
    if call.ended:  # an adapter already took it inside the SDK (see anthropic_messages)
        return result
    try:
        sdk = call.adapter.sdk()
        if isinstance(result, sdk.stream):
            hook_stream(call, result)
            return StreamProxy(result, call)
        if isinstance(result, sdk.async_stream):
            hook_stream(call, result)
            return AsyncStreamProxy(result, call)
        if isinstance(result, sdk.raw):
            if read_later(result):
                if call.adopted == foreign.SDK:  # its span must wait for the body the user reads
                    call.adapter.end_before_sdk(call, result)
                return RawResponseProxy(result, call, take)
            # `with_raw_response` without a stream: the body is already read, so the energy is
            # known now, whether or not the user ever calls `.parse()`.
            call.adapter.observe(call, result.http_response.json())
        else:
            call.adapter.observe(call, result)  # a whole response reads like one chunk
        call.finish()
    except Exception:
        logger.debug("neuralwatt: could not read the response", exc_info=True)
        call.end()
    except BaseException as error:  # an interrupt while we read: the call ends, the interrupt goes on
        call.end(error=error)
        raise
    return result


def read_later(raw: Any) -> bool:
    """A raw response whose body is still to be read: an SSE stream, or `with_streaming_response`."""
    streams = getattr(raw, "_stream", None) or getattr(raw, "_is_sse_stream", False)  # legacy / current
    return bool(streams) or not raw.http_response.is_closed


def hook_stream(call: Invocation, stream: Any) -> None:
    """Capture the comments of this stream's own decoder; it has not been read yet."""
    decoder = getattr(stream, "_decoder", None)
    if not sse_bytes.hook_bytes(decoder):  # one look per network read; a decoder of another shape:
        sse.hook_decoder(decoder)  # a hook per line
    call.decoder = decoder
    if call.adopted == foreign.SDK:
        call.adapter.end_before_sdk(call, stream)


def failed(call: Invocation, error: BaseException) -> None:
    """End a call the SDK raised on. An error raised after the response arrived (`.parse()`
    raising LengthFinishReasonError, with or without its `completion`) keeps its energy."""
    completion = getattr(error, "completion", None) or call.response
    if completion is not None:
        try:
            call.adapter.observe(call, completion)
        except Exception:
            logger.debug("neuralwatt: could not read the failed call's response", exc_info=True)
        call.finish(error)
    else:
        call.end(error=error)
