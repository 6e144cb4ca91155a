"""The vocabulary the wire formats share: what a route answers, and the common answer steps."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import live
from .measure import cost, tokens

# A fixed timestamp: the same seed gives byte-identical answers, which tests compare.
CREATED = 1767225600

_WORDS = (
    "Energy is measured on the GPU for every request and attributed to it by share of the "
    "work done while it ran so that each answer carries its own joules watts and grams"
).split()


@dataclass
class Exchange:
    """One request the emulator answered, and exactly what it sent back."""

    path: str
    request: dict
    faults: frozenset
    stream: bool = False
    response_id: str | None = None
    model: str | None = None
    usage: dict = field(default_factory=dict)  # set when the request is answered
    energy: Any = None  # the energy object as sent (None when not sent)
    cost: Any = None
    status: int = 200
    headers: dict = field(default_factory=dict)  # the request's (without credentials)
    response_headers: dict = field(default_factory=dict)  # what the emulator answered with
    mcr_session: dict | None = None  # session_fp, stored_through, safe_drop_before (MCR models)
    service_tier: str | None = None
    energy_reports: list = field(default_factory=list)  # every `: energy` comment sent, in order


@dataclass
class Answer:
    """What a route sends: a whole JSON body, or stream events (name or None, data) followed by
    the `: energy` / `: cost` comments and, for openai's chat and completions, `data: [DONE]`."""

    body: dict | None = None
    events: Sequence[tuple[str | None, dict]] | None = None
    done: bool = True
    # The event the `stream-error` fault sends half-way through, in this API's error shape.
    error_event: tuple[str | None, dict] = (None, {"error": {"message": "emulated failure", "type": "server_error"}})
    # The event the `energy-in-data` fault puts the energy into (default: the last one).
    energy_event: int = -1


# dspy's ChatAdapter asks for its output fields as sections: "Respond with the corresponding output
# fields, starting with the field `[[ ## answer ## ]]`, and then ending with the marker for
# `[[ ## completed ## ]]`."
_ASKED_SECTIONS = "Respond with the corresponding output fields"
_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]")


def sections(prompt: Any, words: list) -> list:
    """Answer a prompt whose last message asks for named sections as a model that follows it does:
    the words shared out under each field's marker, then the closing marker. The words (and so the
    usage) stay the same."""
    last = prompt[-1] if isinstance(prompt, list) and prompt else prompt
    text = last.get("content") if isinstance(last, dict) else last
    if isinstance(text, list):  # content parts
        text = " ".join(str(part.get("text", "")) for part in text if isinstance(part, dict))
    if not isinstance(text, str) or _ASKED_SECTIONS not in text:
        return words
    names = [name for name in _SECTION.findall(text.rpartition(_ASKED_SECTIONS)[2]) if name != "completed"]
    if not names or len(names) > len(words):
        return words
    words, share = list(words), len(words) // len(names)
    for index, name in enumerate(names):
        before = "\n\n" if index else ""
        words[index * share] = f"{before}[[ ## {name} ## ]]\n{words[index * share]}"
    words[-1] += "\n\n[[ ## completed ## ]]"
    return words


class Turn:
    """One request being answered: its exchange, and the words of the answer."""

    def __init__(self, emulator: Any, exchange: Exchange, body: dict):
        self.emulator, self.exchange, self.body = emulator, exchange, body
        self.cut = False  # whether max_tokens cut the answer (finish reason "length")

    def words(self, prompt: Any, prefix: str, default_model: str, max_tokens: Any = None,
              usage_names: tuple = ("prompt_tokens", "completion_tokens")) -> list:
        """Decide the answer's words, id, model, usage and energy; returns the words.

        The model's own answer is `completion_tokens` words and a finished sentence; a `max_tokens`
        at or below that cuts it there (its end-of-answer token would be one more), as the live
        service does, and sets `cut`."""
        exchange, emulator = self.exchange, self.emulator
        exchange.model = self.body.get("model") or default_model
        exchange.response_id = f"{prefix}{emulator._next_id():06d}"
        if "invented-model" in exchange.faults:  # a server naming a new model in every response
            exchange.model = f"{exchange.model}-{exchange.response_id}"
        count = emulator.completion_tokens
        self.cut = bool(max_tokens) and int(max_tokens) <= count
        if self.cut:
            count = int(max_tokens)
        words = [_WORDS[i % len(_WORDS)] for i in range(count)]
        if not self.cut:
            words[-1] += "."
        words = sections(prompt, words)
        prompt_tokens = tokens(prompt)
        input_name, output_name = usage_names
        exchange.usage = {input_name: prompt_tokens, output_name: len(words)}
        self.measure(prompt_tokens, len(words))
        return words

    def measure(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Energy, cost, MCR session and response headers of this answer."""
        exchange, emulator = self.exchange, self.emulator
        model = exchange.model or ""
        exchange.service_tier = live.service_tier(model)
        mcr = session = None
        if live.is_mcr(model):
            conversation = exchange.headers.get("x-nw-conversation-id") or f"anonymous-{exchange.response_id}"
            session = emulator._sessions.turn(conversation, prompt_tokens + completion_tokens)
            exchange.mcr_session = live.session_summary(session)
            mcr = live.mcr_metrics(session, prompt_tokens)
        exchange.energy, exchange.cost = emulator._meter.measure(prompt_tokens, completion_tokens,
                                                                 exchange.faults, mcr)
        joules = exchange.energy.get("energy_joules") if isinstance(exchange.energy, dict) else None
        billed = cost(prompt_tokens, completion_tokens)  # the headers state it, body or not
        used = emulator._sessions.use_energy(joules / 3.6e6 if isinstance(joules, float) else 0.0,
                                             billed["request_cost_usd"])
        exchange.response_headers = live.headers(model, billed, used, session)

    def with_energy(self, payload: dict) -> dict:
        """A whole body with the energy and cost objects beside the answer."""
        exchange = self.exchange
        if exchange.energy is not None:
            payload["energy"] = exchange.energy if "malformed-energy" not in exchange.faults else "{not json"
            if "string-energy" in exchange.faults:  # the object's JSON text, as a string
                payload["energy"] = json.dumps(exchange.energy)
        if exchange.cost is not None:
            payload["cost"] = exchange.cost
        if "malformed-energy" in exchange.faults:
            exchange.energy = payload.get("energy")
        if exchange.mcr_session is not None:
            payload["mcr"] = exchange.mcr_session
        return payload
