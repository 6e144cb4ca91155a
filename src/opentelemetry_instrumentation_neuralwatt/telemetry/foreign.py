"""Someone else's span that already records this call: we enrich it instead of making a second.

One call must have one GenAI span. Two owners of such a span exist today, and both are handled
as one idea (`Invocation.adopted` says which):

- ``GENAI``: an invocation of `opentelemetry-util-genai`, which the official genai-openai and
  genai-anthropic instrumentations are built on. While it is open, its data object
  (`InferenceData`, `EmbeddingData`) sits in the OpenTelemetry context; what is put in its
  `attributes` lands on its span, and its `metric_attributes` on its metric points, when the
  invocation finishes (util-genai's own extension point). It records the `gen_ai.client.*`
  metrics itself, so we record none of those.
- ``SDK``: the anthropic SDK's own tracing. Its span is current while the SDK makes the request
  and ends right after the response is processed; attributes go on the span directly, before
  that. It records no metrics, so ours are recorded as for our own span.

util-genai's API changes with every release: it is imported only when it is already loaded,
and a context value of another shape is ignored (the call then gets our own span).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from opentelemetry import context

logger = logging.getLogger(__name__)

SDK = "sdk"
GENAI = "genai"

_GENAI_PACKAGE = "opentelemetry.util.genai"
# The context keys under which util-genai keeps an open invocation's data, once it is loaded.
_keys: tuple[str, ...] | None = None


def _genai_keys() -> tuple[str, ...]:
    global _keys
    if _keys is None:
        try:
            from opentelemetry.util.genai import invocation  # type: ignore[import-not-found,unused-ignore]

            found = (getattr(invocation, "CLIENT_INFERENCE_CONTEXT_KEY", None),
                     getattr(invocation, "CLIENT_EMBEDDING_CONTEXT_KEY", None))
            _keys = tuple(key for key in found if isinstance(key, str))
        except Exception:  # another release without the extension point: our own span then
            logger.debug("neuralwatt: opentelemetry-util-genai has no invocation context keys", exc_info=True)
            _keys = ()
    return _keys


def genai_data() -> Any:
    """The data object of the util-genai invocation open in the current context, or None."""
    if _GENAI_PACKAGE not in sys.modules:  # nobody can have put one there
        return None
    for key in _genai_keys():
        data = context.get_value(key)
        if data is not None and isinstance(getattr(data, "attributes", None), dict) \
                and isinstance(getattr(data, "metric_attributes", None), dict):
            return data
    return None


# The scope of the official instrumentations' spans (genai-openai, genai-anthropic, ...).
_GENAI_SCOPE = "opentelemetry.instrumentation.genai."


def is_genai_span(span: Any) -> bool:
    """Whether the current span is the util-genai invocation's own, not one that another
    instrumentation (OpenLLMetry, say) started between it and the SDK: only then do we write to it
    directly, besides util-genai's context data."""
    name = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    return isinstance(name, str) and name.startswith(_GENAI_SCOPE)


def own_attributes(attributes: dict) -> dict:
    """What we add to a util-genai span: ours (`neuralwatt.*`, the conversation id), not the
    `gen_ai.*` and `server.*` attributes its instrumentation records itself."""
    return {key: value for key, value in attributes.items()
            if key.startswith("neuralwatt.") or key == "gen_ai.conversation.id"}
