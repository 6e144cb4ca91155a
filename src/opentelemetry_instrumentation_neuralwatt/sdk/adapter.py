"""What every adapter shares: request parameters, the SDK's classes, and field access."""

from __future__ import annotations

import importlib
import math
from functools import cache
from typing import Any, NamedTuple

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import server_attributes

from ..telemetry import content
from ..telemetry.metric_points import API_ATTRIBUTE, PROVIDER

# Request parameters recorded on the span when the caller passed them (any API's name for them).
REQUEST_PARAMETERS = {
    "max_tokens": GenAI.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": GenAI.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": GenAI.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": GenAI.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": GenAI.GEN_AI_REQUEST_TOP_P,
    "top_k": GenAI.GEN_AI_REQUEST_TOP_K,
    "frequency_penalty": GenAI.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": GenAI.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": GenAI.GEN_AI_REQUEST_SEED,
    "n": GenAI.GEN_AI_REQUEST_CHOICE_COUNT,
}


class SdkTypes(NamedTuple):
    """The classes a call's result may be, in one SDK (openai and anthropic share the design)."""

    stream: Any
    async_stream: Any
    raw: Any  # tuple: every raw (`with_raw_response`) or streaming response class


@cache
def sdk_types(package: str) -> SdkTypes:
    streaming = importlib.import_module(f"{package}._streaming")
    try:  # the raw-response classes moved between SDK releases; both are optional here
        legacy = importlib.import_module(f"{package}._legacy_response").LegacyAPIResponse
    except (ImportError, AttributeError):  # pragma: no cover
        legacy = ()
    try:
        response = importlib.import_module(f"{package}._response")
        streaming_raw: tuple = (response.APIResponse, response.AsyncAPIResponse)
    except (ImportError, AttributeError):  # pragma: no cover
        streaming_raw = ()
    raw = ((legacy,) if legacy else ()) + streaming_raw
    return SdkTypes(streaming.Stream, streaming.AsyncStream, raw)


class Adapter:
    """Defaults for an adapter: an SDK built like openai's, which does not trace itself."""

    api = ""
    package = "openai"
    paths: tuple = ()  # (request path suffix, operation)

    def sdk(self) -> SdkTypes:
        return sdk_types(self.package)

    def sdk_traces(self, client: Any) -> bool:
        return False

    # Whether a stream of this API has a last event before the body ends (see `is_last`).
    has_last_event = False
    # The `type` of this API's most frequent stream event, one piece of content and nothing else
    # to read (no usage, ids or energy): once content has begun, and unless content is captured,
    # the stream proxies only count it (streams.py). None: every item is observed.
    content_event: str | None = None

    @staticmethod
    def is_last(item: Any) -> bool:
        """The stream's last event, after which only comments (the energy) come."""
        return False


def get(obj: Any, name: str) -> Any:
    """A field of an SDK model (pydantic, extra keys included) or of a decoded JSON dict."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


_NO_FIELDS: dict = {}


def fields(obj: Any):
    """`get` for several fields of one object: its `.get`, or that of an SDK model's declared
    fields (pydantic keeps them in `__dict__`), looked up once."""
    if isinstance(obj, dict):
        return obj.get
    return getattr(obj, "__dict__", _NO_FIELDS).get


def keep_energy(call: Any, item: Any) -> None:
    """An `energy` / `cost` / `mcr` object beside the API's own fields: in a decoded dict, or among an SDK
    model's extra keys (read there, not with getattr: a missing attribute raises, which is slow
    on a path that runs for every stream event)."""
    extra = item if isinstance(item, dict) else getattr(item, "__pydantic_extra__", None)
    if extra:
        energy, cost, mcr = extra.get("energy"), extra.get("cost"), extra.get("mcr")
        if energy is not None:
            call.data_energy = energy
        if cost is not None:
            call.data_cost = cost
        if mcr is not None:  # MCR session data: the body of a `*-long` model, a stream's last chunk
            call.data_mcr = mcr


_PARAMETER_NAMES = frozenset(REQUEST_PARAMETERS)
_RANK = {name: rank for rank, name in enumerate(REQUEST_PARAMETERS)}
# (api, operation, model, host, port) -> the start attributes every such call shares; bounded.
_COMMON: dict[tuple, dict] = {}


def request_attributes(api: str, operation: str, model: str | None, host: str, port: int | None,
                       kwargs: dict, content: dict | None = None) -> dict:
    """The span's start attributes, common to every API; `content` (see content.py) only when
    message content is captured."""
    key = (api, operation, model, host, port)
    common = _COMMON.get(key)
    if common is None:
        common = {GenAI.GEN_AI_OPERATION_NAME: operation, GenAI.GEN_AI_PROVIDER_NAME: PROVIDER,
                  server_attributes.SERVER_ADDRESS: host, API_ATTRIBUTE: api}
        if model:
            common[GenAI.GEN_AI_REQUEST_MODEL] = model
        if port:
            common[server_attributes.SERVER_PORT] = port
        if len(_COMMON) >= 1024:  # models and hosts come and go: stay bounded
            _COMMON.clear()
        _COMMON[key] = common
    attributes = common.copy()
    given = _PARAMETER_NAMES.intersection(kwargs)  # the few the caller passed
    # In REQUEST_PARAMETERS' order: of max_tokens and max_completion_tokens, the latter wins.
    for name in given if len(given) < 2 else sorted(given, key=_RANK.__getitem__):
        value = kwargs[name]
        # SDK "omit" sentinels and None are not values; nor are ints beyond int64 or NaN, which
        # exporters refuse (dropped).
        if type(value) is int and -(2**63) <= value < 2**63 or type(value) is float and math.isfinite(value):
            attributes[REQUEST_PARAMETERS[name]] = value
    if kwargs.get("stream") is True:
        attributes[GenAI.GEN_AI_REQUEST_STREAM] = True
    if content:
        attributes.update(content)
    return attributes


MAX_LIST = 1000  # entries in any list attribute (a response may carry thousands of choices)


def add_finish_reason(call: Any, reason: Any) -> None:
    if reason:
        if call.finish_reasons is None:
            call.finish_reasons = []
        if len(call.finish_reasons) < MAX_LIST:
            call.finish_reasons.append(reason)


def keep_text(call: Any, index: Any, text: Any) -> None:
    """Output text for content capture (only when `call.output_text` is a dict): pieces kept per
    choice until the text bound is reached, at most MAX_LIST choices (linear in the stream)."""
    if isinstance(text, str):
        index = index if isinstance(index, int) else 0
        kept = call.output_text.get(index)
        if kept is None:
            if len(call.output_text) >= MAX_LIST:
                return
            kept = call.output_text[index] = content.Text()
        kept.add(text)
