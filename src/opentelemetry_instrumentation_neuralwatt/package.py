# Either SDK is enough (the contrib way for alternatives: `instruments-any`). openai: the oldest
# release whose streaming path (Stream._decoder from client._make_sse_decoder, SSEDecoder.decode
# per line) this package hooks; anthropic: the release its adapter is tested against.
_instruments_any = ("openai >= 1.40.0", "anthropic >= 2.14.0")
_instruments = ()

_supports_metrics = True
