"""llm's own OpenAI chat classes, pointed at Neuralwatt: what `neuralwatt/<id>` models are.

Imported when llm resolves models, not when it loads plugins (see `activation.py`). llm shows a
failed call as `Error: <the exception's message>`; for the mistakes a first user makes (nothing
listening at the API base, a base without `/v1`, a refused key) the message says what to fix. The
exception stays the SDK's own, so code that catches it is unaffected.
"""

from __future__ import annotations

from contextlib import aclosing

import openai
from llm.default_plugins.openai_models import AsyncChat, Chat

from . import catalog
from .catalog import KEY_ENV


class NeuralwattChat(Chat):
    needs_key = "neuralwatt"
    key_env_var = KEY_ENV

    def __str__(self):
        return f"Neuralwatt: {self.model_id}"

    def execute(self, *args, **kwargs):
        try:
            yield from super().execute(*args, **kwargs)
        except openai.APIError as error:
            _explain(error, self.api_base)
            raise


class NeuralwattAsyncChat(AsyncChat):
    needs_key = "neuralwatt"
    key_env_var = KEY_ENV

    def __str__(self):
        return f"Neuralwatt (async): {self.model_id}"

    async def execute(self, *args, **kwargs):
        try:
            async with aclosing(super().execute(*args, **kwargs)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except openai.APIError as error:
            _explain(error, self.api_base)
            raise


def _explain(error: openai.APIError, base: str | None) -> None:
    """Put what to fix into the message of an error a wrong setting causes."""
    base = base or catalog.api_base()
    status = getattr(error, "status_code", None)
    if isinstance(error, openai.APIConnectionError):
        reason = error.__cause__ or error.message
        message = f"Could not reach {base} ({reason}). Is {catalog.API_BASE_ENV} right?"
    elif status == 401:
        message = f"{base} refused the API key (HTTP 401): check `llm keys set neuralwatt` or {KEY_ENV}."
    elif hint := catalog.missing_v1(status, base):
        message = f"{base} answered HTTP 404.{hint}"
    else:
        return
    error.message = message
    error.args = (message,)
