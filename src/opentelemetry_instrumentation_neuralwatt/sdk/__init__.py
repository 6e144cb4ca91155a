"""Where we hook the SDKs (the first stage, under the instrumentor): one adapter per API shape,
over the one telemetry core.

`adapter` is what every adapter shares; `openai_chat`, `openai_responses`, `anthropic_messages`
(with `anthropic_span`: adopting the SDK's own span) and `dspy_lm` map their API's requests,
responses and stream events onto a call; `adapters` lists them. `client_hooks` are the hooks on
the SDK clients' `_process_response`, `stream_helpers` on the SDKs' stream helpers; `patching`
puts our wrappers on (under other instrumentors') and takes only ours off; `endpoints` says which
servers are Neuralwatt; `settings` reads the environment.

Imports `call`, `telemetry` and `wire` below it.
"""
