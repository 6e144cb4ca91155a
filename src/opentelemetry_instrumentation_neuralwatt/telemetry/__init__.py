"""What we emit for a call (the third stage): its span's attributes and events, its metric points,
and the sums over many calls.

`recorder` turns a finished call into span attributes and metric points (`metric_points`,
`instruments`: the points and their instruments; `span_attributes`, `content`: what goes on the
span); `foreign` is someone else's span that already records the call (util-genai's, the
anthropic SDK's), which we enrich instead of making a second; `labels` bounds the values others
choose for metric labels; `rollup` puts sums on ancestor spans; `blocks` hands a call's
measurement to the blocks of code that asked for it, and `measure` is the public `measure()`.

Imports only `wire` below it; a call is read by its fields, never imported from `call`.
"""
