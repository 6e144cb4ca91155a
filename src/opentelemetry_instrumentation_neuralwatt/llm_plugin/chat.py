"""llm's own OpenAI chat classes, pointed at Neuralwatt: what `neuralwatt/<id>` models are.

Imported when llm resolves models, not when it loads plugins (see `activation.py`).
"""

from __future__ import annotations

from llm.default_plugins.openai_models import AsyncChat, Chat

from .catalog import KEY_ENV


class NeuralwattChat(Chat):
    needs_key = "neuralwatt"
    key_env_var = KEY_ENV

    def __str__(self):
        return f"Neuralwatt: {self.model_id}"


class NeuralwattAsyncChat(AsyncChat):
    needs_key = "neuralwatt"
    key_env_var = KEY_ENV

    def __str__(self):
        return f"Neuralwatt (async): {self.model_id}"
