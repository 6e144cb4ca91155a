"""The Anthropic Messages API (`/v1/messages`), as Neuralwatt serves it: the same `energy` and
`cost` body objects, and `: energy` / `: cost` comments after `message_stop` (no `[DONE]`)."""

from __future__ import annotations

from .wire import Answer, Turn

MODEL = "moonshotai/Kimi-K2.6"


def messages(turn: Turn) -> Answer:
    body = turn.body
    words = turn.words(body.get("messages", []), "msg_", MODEL, body.get("max_tokens"),
                       usage_names=("input_tokens", "output_tokens"))
    exchange = turn.exchange
    usage = {**exchange.usage, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    stop = "max_tokens" if turn.cut else "end_turn"
    delta: dict = {"stop_reason": stop, "stop_sequence": None}
    if "refusal" in exchange.faults and "fallback_credit_token" not in body:
        # Refused (and measured: the server did the work); a fallback may redeem the token.
        delta = {"stop_reason": "refusal", "stop_sequence": None,
                 "stop_details": {"type": "refusal", "category": "cyber",
                                  "fallback_credit_token": f"fct_{exchange.response_id}",
                                  "fallback_has_prefill_claim": False}}
    message = {"id": exchange.response_id, "type": "message", "role": "assistant", "model": exchange.model,
               "content": [{"type": "text", "text": " ".join(words)}], **delta, "usage": usage}
    if not body.get("stream"):
        return Answer(body=turn.with_energy(message))
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events: list[tuple[str, dict]] = [("message_start", {"message": start}),
              ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
              ("ping", {})]
    events += [("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": (" " if i else "") + w}})
               for i, w in enumerate(words)]
    events += [("content_block_stop", {"index": 0}),
               ("message_delta", {"delta": delta,
                                  "usage": {"output_tokens": len(words)}}),
               ("message_stop", {})]
    typed = [(name, {"type": name, **data}) for name, data in events]
    error = ("error", {"type": "error", "error": {"type": "api_error", "message": "emulated failure"}})
    # Energy carried inside a data event goes on `message_delta`, the last one with content.
    return Answer(events=typed, done=False, error_event=error, energy_event=-2)


ROUTES = {"/v1/messages": messages}
