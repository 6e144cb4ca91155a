"""openai chat completions, legacy completions and embeddings, as Neuralwatt serves them."""

from __future__ import annotations

from typing import Any

from . import live
from .measure import tokens
from .wire import CREATED, Answer, Turn

CHAT_MODEL = "openai/gpt-oss-20b"
EMBEDDING_MODEL = "BAAI/bge-m3"


def _tool_to_call(body: dict) -> str | None:
    """With tools offered and no tool result yet, the model calls the first tool (no arguments)."""
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    if not tools or any(isinstance(m, dict) and m.get("role") == "tool" for m in messages):
        return None
    return (tools[0].get("function") or {}).get("name")


def _usage(turn: Turn) -> dict:
    exchange = turn.exchange
    usage = exchange.usage
    usage["total_tokens"] = usage["prompt_tokens"] + usage.get("completion_tokens", 0)
    # An MCR session's later turns read their stored context from cache; gpt-oss-style models
    # spend a quarter of their output on reasoning.
    cached = exchange.mcr_session["safe_drop_before"] if exchange.mcr_session else 0
    usage["prompt_tokens_details"] = {"cached_tokens": min(cached, usage["prompt_tokens"])}
    usage["completion_tokens_details"] = {"reasoning_tokens": usage.get("completion_tokens", 0) // 4}
    return usage


def _finish(turn: Turn) -> str:
    """"length" when max_tokens cut the answer (or the `length` fault says so), else "stop"."""
    return "length" if turn.cut or "length" in turn.exchange.faults else "stop"


def _stream(turn: Turn, kind: str, chunks: list) -> Answer:
    exchange = turn.exchange
    base = {"id": exchange.response_id, "object": kind, "created": CREATED, "model": exchange.model,
            "service_tier": exchange.service_tier}
    if exchange.service_tier == "flex":  # heartbeats while the request waits for capacity
        chunks = [{"choices": [{"index": 0, "delta": {}, "finish_reason": None}]}] * live.FLEX_HEARTBEATS + chunks
    if (turn.body.get("stream_options") or {}).get("include_usage"):
        chunks = chunks + [{"choices": [], "usage": _usage(turn)}]
    if exchange.mcr_session is not None:  # the final chunk carries the MCR session
        chunks = chunks[:-1] + [{**chunks[-1], "mcr": exchange.mcr_session}]
    return Answer(events=[(None, {**base, **chunk}) for chunk in chunks])


def _whole(turn: Turn, kind: str, choices: list) -> Answer:
    exchange = turn.exchange
    usage = _usage(turn)
    body: dict[str, Any] = {"id": exchange.response_id, "created": CREATED, "object": kind, "choices": choices,
                            "model": exchange.model, "usage": usage, "service_tier": exchange.service_tier}
    faults = exchange.faults
    if "null-choices" in faults:
        body["choices"] = None
    if "many-choices" in faults:
        body["choices"] = [{**choices[0], "index": i} for i in range(5000)]
    if "hostile-fields" in faults:
        body.update(model="gpt-\ud800-oss", id="chatcmpl-\udfff")
        body["usage"] = {**usage, "prompt_tokens": 2**70, "completion_tokens": -(2**70)}
    return Answer(body=turn.with_energy(body))


def chat(turn: Turn) -> Answer:
    body = turn.body
    words = turn.words(body.get("messages", []), "chatcmpl-", CHAT_MODEL,
                       body.get("max_tokens") or body.get("max_completion_tokens"))
    tool = _tool_to_call(body)
    finish = "tool_calls" if tool else _finish(turn)
    if body.get("stream"):
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
        if tool:
            call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": tool, "arguments": ""}}
            chunks += [{"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]},
                       {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
                           "arguments": "{}"}}]}, "finish_reason": None}]}]
        else:
            chunks += [{"choices": [{"index": 0, "delta": {"content": (" " if i else "") + word},
                                     "finish_reason": None}]} for i, word in enumerate(words)]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        return _stream(turn, "chat.completion.chunk", chunks)
    if tool:
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{}"}}]}
    else:
        message = {"role": "assistant", "content": " ".join(words)}
    return _whole(turn, "chat.completion", [{"index": 0, "message": message, "finish_reason": finish,
                                             "logprobs": None}])


def completion(turn: Turn) -> Answer:
    body = turn.body
    words = turn.words(body.get("prompt", ""), "cmpl-", CHAT_MODEL, body.get("max_tokens"))
    if body.get("stream"):
        chunks = [{"choices": [{"index": 0, "text": (" " if i else "") + word, "finish_reason": None,
                                "logprobs": None}]} for i, word in enumerate(words)]
        chunks[-1]["choices"][0]["finish_reason"] = _finish(turn)
        return _stream(turn, "text_completion", chunks)
    return _whole(turn, "text_completion", [{"index": 0, "text": " ".join(words), "finish_reason": _finish(turn),
                                             "logprobs": None}])


def embeddings(turn: Turn) -> Answer:
    exchange, inputs = turn.exchange, turn.body.get("input", "")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    exchange.model = turn.body.get("model") or EMBEDDING_MODEL  # embeddings answers carry no id
    prompt_tokens = tokens(inputs)
    exchange.usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    turn.measure(prompt_tokens, 0)
    data = [{"object": "embedding", "index": i, "embedding": [round(0.001 * (i + j), 6) for j in range(8)]}
            for i in range(len(inputs))]
    return Answer(body=turn.with_energy({"object": "list", "data": data, "model": exchange.model,
                                         "usage": exchange.usage}))


ROUTES = {"/v1/chat/completions": chat, "/v1/completions": completion, "/v1/embeddings": embeddings}
