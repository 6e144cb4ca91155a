"""A call's life (the second stage): begun when the SDK method is called, taken when the SDK
returns, ended exactly once however it ends.

`run` wraps an SDK method: `begin` starts a call's record (`invocation.Invocation`), `take`
hands the user the result or a proxy around it; `streams` and `stream_items` are the stream
proxies and what they do per item, `raw` the proxy of a raw or streaming response; `hops` follows
the requests a client middleware makes for one call, `rest` reads on after a reader stopped,
bounded; `deferred` ends the calls of collected streams off the finalizer.

Imports `telemetry` and `wire` below it; never `sdk`. What an SDK looks like reaches it through the
call's adapter (an object of `sdk`, used by its methods, not imported).
"""
