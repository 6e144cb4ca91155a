"""A generator run one step at a time with a block open around each step (`blocks.open`): the
calls its body makes count in the block, not those its consumer makes between steps. Used by
`@measure()` on generator functions and by the `llm` plugin around llm's `execute`.

Sync and async twins (`stepped`/`astepped`): a generator cannot delegate to an async generator, nor the
reverse; the block each step opens and closes is shared (`blocks.open`, `blocks.close`)."""

from __future__ import annotations

from typing import Any

from .blocks import close, open  # noqa: A004 - a block is opened and closed


def stepped(sink: Any, generator: Any):
    """A generator run one step at a time with a block for `sink` open: the calls it makes count,
    not those of its consumer between steps (`yield from` this: `send` and `throw` go through)."""
    step, value = generator.send, None
    while True:
        block = open(sink)
        try:
            item = step(value)
        except StopIteration as stop:
            return stop.value
        finally:
            close(block)
        try:
            step, value = generator.send, (yield item)
        except GeneratorExit:
            block = open(sink)  # what its `finally` does counts too
            try:
                generator.close()
            finally:
                close(block)
            raise
        except BaseException as error:
            step, value = generator.throw, error


async def astepped(sink: Any, generator: Any):
    """An async generator run one step at a time with a block for `sink` open (see `stepped`)."""
    step, value = generator.asend, None
    while True:
        block = open(sink)
        try:
            item = await step(value)
        except StopAsyncIteration:
            return
        finally:
            close(block)
        try:
            step, value = generator.asend, (yield item)
        except GeneratorExit:
            block = open(sink)
            try:
                await generator.aclose()
            finally:
                close(block)
            raise
        except BaseException as error:
            step, value = generator.athrow, error
