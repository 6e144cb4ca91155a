"""Neuralwatt's wire bytes, canned: what an httpx MockTransport answers in the overhead benchmark.

Each body is the live service's shape for one API (openai chat completions, the openai Responses
API, anthropic Messages), streamed and whole, with the `: energy` / `: cost` comments (streams) or
`energy` / `cost` members (whole answers) and the response headers the live service sends.
"""

from __future__ import annotations

import json

MODEL = "openai/gpt-oss-20b"
ENERGY = ('{"energy_joules": 15.23, "energy_kwh": 4.23e-06, "avg_power_watts": 78.5, "duration_seconds": 0.194, '
          '"attribution_method": "prorated", "attribution_ratio": 1.0, "carbon_g_co2eq": 0.0005146, '
          '"grid_carbon_intensity_gco2perkwhr": 42.0, "grid_id": "FI", "carbon_source": "agent_cache"}')
COST = '{"request_cost_usd": 6.1e-05, "cache_savings_usd": 0.0}'
# Where a response's id goes: each answer gets its own (`numbered`), as the live service's do (an
# instrumentation may key its state by response id: OpenLLMetry's Responses wrapper merges a repeated
# id into the earlier response and records no span for it).
ID = b"@id@"
# The headers the live service sends on every response (billing, quota, service tier).
LIVE_HEADERS = {
    "x-request-cost-usd": "6.1e-05", "x-cache-savings-usd": "0.0", "x-allowance-remaining-usd": "74.6",
    "x-budget-remaining-usd": "74.6", "x-subscription-plan": "pro", "x-energy-included": "5.0",
    "x-energy-remaining": "4.99", "x-energy-used": "0.01", "x-nw-service-tier": "default",
}


def canned_stream(chunks: int) -> bytes:
    """Neuralwatt's streaming wire format: chunks, a usage chunk, energy and cost comments, [DONE]."""
    head = '{"id":"chatcmpl-@id@","object":"chat.completion.chunk","created":1,"model":"%s","choices":' % MODEL
    lines = [f'data: {head}[{{"index":0,"delta":{{"content":"tok{i} "}},"finish_reason":null}}]}}\n\n'
             for i in range(chunks)]
    lines.append(f'data: {head}[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}\n\n')
    lines.append(f'data: {head}[],"usage":{{"prompt_tokens":3,"completion_tokens":{chunks},"total_tokens":{chunks + 3}}}}}\n\n')
    lines.append(f": energy {ENERGY}\n: cost {COST}\ndata: [DONE]\n\n")
    return "".join(lines).encode()


def canned_json() -> bytes:
    return ('{"id":"chatcmpl-@id@","object":"chat.completion","created":1,"model":"%s","choices":[{"index":0,'
            '"message":{"role":"assistant","content":"A short answer."},"finish_reason":"stop"}],'
            '"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"energy":%s,"cost":%s}'
            % (MODEL, ENERGY, COST)).encode()


def canned_responses_stream(chunks: int) -> bytes:
    """The Responses API stream: created, the text deltas, completed (with usage), then energy and cost."""
    def event(name, data):
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    response = {"id": "resp_@id@", "object": "response", "created_at": 1, "model": MODEL, "status": "in_progress",
                "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    done = {**response, "status": "completed", "usage": {
        "input_tokens": 3, "output_tokens": chunks, "total_tokens": chunks + 3,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}
    lines = [event("response.created", {"response": response, "sequence_number": 0})]
    lines += [event("response.output_text.delta", {"item_id": "msg_1", "output_index": 0, "content_index": 0,
                                                    "delta": f"tok{i} ", "logprobs": [], "sequence_number": i + 1})
              for i in range(chunks)]
    lines += [event("response.completed", {"response": done, "sequence_number": chunks + 1}),
              f": energy {ENERGY}\n: cost {COST}\n"]
    return "".join(lines).encode()


def canned_response() -> bytes:
    return json.dumps({
        "id": "resp_@id@", "object": "response", "created_at": 1, "model": MODEL, "status": "completed",
        "output": [{"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "A short answer.", "annotations": []}]}],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        "energy": json.loads(ENERGY), "cost": json.loads(COST)}).encode()


def canned_messages_stream(chunks: int) -> bytes:
    """Neuralwatt's Anthropic Messages stream: the events, then energy and cost comments."""
    def event(name, data):
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    usage = {"input_tokens": 3, "output_tokens": 1}
    message = {"id": "msg_@id@", "type": "message", "role": "assistant", "model": MODEL, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
    lines = [event("message_start", {"message": message}),
             event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})]
    lines += [event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}})
              for i in range(chunks)]
    lines += [event("content_block_stop", {"index": 0}),
              event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": chunks}}),
              event("message_stop", {}), f": energy {ENERGY}\n: cost {COST}\n"]
    return "".join(lines).encode()


def canned_message() -> bytes:
    return ('{"id":"msg_@id@","type":"message","role":"assistant","model":"%s","content":[{"type":"text",'
            '"text":"A short answer."}],"stop_reason":"end_turn","stop_sequence":null,'
            '"usage":{"input_tokens":3,"output_tokens":4},"energy":%s,"cost":%s}' % (MODEL, ENERGY, COST)).encode()



def numbered(body: bytes, number: int) -> bytes:
    """A canned body with its response id made unique (six digits, as the emulator's)."""
    return body.replace(ID, b"%06d" % (number % 1_000_000))


def bodies(api: str, chunks: int) -> tuple[bytes, bytes]:
    """(stream body, whole body) of one API."""
    if api == "responses":
        return canned_responses_stream(chunks), canned_response()
    if api == "messages":
        return canned_messages_stream(chunks), canned_message()
    return canned_stream(chunks), canned_json()
