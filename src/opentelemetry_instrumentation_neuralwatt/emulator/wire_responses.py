"""The openai Responses API (`/v1/responses`). Neuralwatt does not report energy here (as of
2026-08); the emulator sends none unless asked with `responses_energy=True`, so both cases can
be tested. A stream has no `[DONE]`: it ends after `response.completed`."""

from __future__ import annotations

from .wire import CREATED, Answer, Turn

MODEL = "openai/gpt-oss-20b"


def _response(turn: Turn, status: str, output: list, usage) -> dict:
    exchange = turn.exchange
    return {"id": exchange.response_id, "object": "response", "created_at": CREATED, "status": status,
            "model": exchange.model, "output": output, "usage": usage, "error": None,
            "incomplete_details": None if status != "incomplete" else {"reason": "max_output_tokens"},
            "instructions": turn.body.get("instructions"), "metadata": {}, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "temperature": 1.0, "top_p": 1.0}


def responses(turn: Turn) -> Answer:
    body = turn.body
    words = turn.words(body.get("input", ""), "resp_", MODEL, body.get("max_output_tokens"),
                       usage_names=("input_tokens", "output_tokens"))
    exchange = turn.exchange
    if not turn.emulator.responses_energy:
        exchange.energy = exchange.cost = None
    usage = {**exchange.usage, "total_tokens": sum(exchange.usage.values()),
             "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
    text = " ".join(words)
    status = "incomplete" if turn.cut else "completed"  # incomplete_details: max_output_tokens
    item_id = f"msg_{exchange.response_id}"
    part = {"type": "output_text", "text": text, "annotations": []}
    message = {"id": item_id, "type": "message", "role": "assistant", "status": "completed", "content": [part]}
    if not body.get("stream"):
        return Answer(body=turn.with_energy(_response(turn, status, [message], usage)))
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events: list[tuple[str, dict]] = [("response.created", {"response": _response(turn, "in_progress", [], None)}),
              ("response.output_item.added", {"output_index": 0, "item": {**message, "status": "in_progress",
                                                                          "content": []}}),
              ("response.content_part.added", {**where, "part": {**part, "text": ""}})]
    events += [("response.output_text.delta", {**where, "delta": (" " if i else "") + word, "logprobs": []})
               for i, word in enumerate(words)]
    events += [("response.output_text.done", {**where, "text": text, "logprobs": []}),
               ("response.content_part.done", {**where, "part": part}),
               ("response.output_item.done", {"output_index": 0, "item": message}),
               (f"response.{status}", {"response": _response(turn, status, [message], usage)})]
    numbered = [(name, {"type": name, "sequence_number": n, **data}) for n, (name, data) in enumerate(events)]
    error = ("error", {"type": "error", "code": "server_error", "message": "emulated failure", "param": None})
    return Answer(events=numbered, done=False, error_event=error)


ROUTES = {"/v1/responses": responses}
