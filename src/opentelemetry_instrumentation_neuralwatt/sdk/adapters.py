"""One adapter per API shape: it names the SDK methods to wrap and maps that API's request,
response and stream events onto the neutral call record (`invocation.Invocation`).

An adapter provides `api` (a name for the API shape), `package` (the SDK it patches), `paths`
(request paths, for calls that bypass our wrappers), `targets()` ((module, "Class.method",
wrapper) triples), `sdk()` (the SDK's stream and raw-response classes), `request_attributes(...)`,
`observe(call, item)` (a whole response or one stream event), `is_content(item)` (a stream item
that carries content, for time to first chunk), `sdk_traces(client)` (whether the SDK makes its
own span for the call) and `end_before_sdk(...)` (for SDKs that do); `base.Adapter` has the
defaults. Adding an API is one module here and one line in ADAPTERS. A client that sends those
APIs' requests itself (dspy's engine, `dspy_lm`) is one module too: it has its own `targets()` and
reads each request with the adapter of its API.
"""

from __future__ import annotations

from . import anthropic_messages, dspy_lm, openai_chat, openai_responses

ADAPTERS = (openai_chat.ADAPTER, openai_responses.ADAPTER, anthropic_messages.ADAPTER, dspy_lm.ADAPTER)
