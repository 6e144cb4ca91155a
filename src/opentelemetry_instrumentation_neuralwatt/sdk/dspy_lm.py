"""dspy >= 3.4's native engine: lm15, vendored in dspy, which speaks HTTP over its own sockets.

Not an API shape of its own: lm15 sends chat completions, Messages and Responses requests, each
read by that API's adapter. Every lm15 request goes through `_send` (the whole body, read into an
`HttpResponse` with its headers) or `_stream_raw` (SSE, cut into lines by the transport response's
`iter_lines` for a parser that drops comment lines) of its provider base classes: one call each.
The request body is what the SDKs take as keyword arguments; a stream's end events carry the data
chunk they came from; the `: energy` comments are kept from the lines as they pass. With
`engine="litellm"`, dspy goes through the openai SDK, hooked already. A custom engine makes its own
calls: one that points at a Neuralwatt host and reached none of our hooks is named in a warning.
"""

from __future__ import annotations

from . import dspy_engines, dspy_requests, dspy_streams
from .adapter import Adapter


class DspyLM(Adapter):
    package = "dspy"

    def targets(self):
        base, abase, lines = (f"dspy._vendor.lm15.{name}" for name in
                              ("providers.base", "providers.async_base", "transports._types"))
        return [(base, "BaseProviderLM._send", dspy_requests.send),
                (abase, "AsyncBaseProviderLM._send", dspy_requests.asend),
                (base, "BaseProviderLM._stream_raw", dspy_streams.stream),
                (abase, "AsyncBaseProviderLM._stream_raw", dspy_streams.stream),
                (lines, "TransportResponse.iter_lines", dspy_streams.lines),
                (lines, "AsyncTransportResponse.aiter_lines", dspy_streams.lines),
                # One engine attempt, after dspy's cache: where a custom engine is called.
                ("dspy.clients.execution", "_attempt", dspy_engines.attempt),
                ("dspy.clients.execution", "_aattempt", dspy_engines.aattempt)]


ADAPTER = DspyLM()
