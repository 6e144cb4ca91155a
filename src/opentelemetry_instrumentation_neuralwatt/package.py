# The oldest openai release whose streaming path (Stream._decoder from
# client._make_sse_decoder, SSEDecoder.decode per line) this package hooks.
_instruments = ("openai >= 1.40.0",)

_supports_metrics = True
