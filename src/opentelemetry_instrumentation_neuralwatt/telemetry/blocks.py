"""Hand each call's measurement to the blocks of code that asked for it: `measure()` and the `llm`
plugin's collector (each a sink with `add(measurement or None)`).

A block is an entry made current in the OpenTelemetry context, so it is seen wherever that context
goes: asyncio tasks created inside, `asyncio.to_thread`, and threads the context is carried into
(as the threading instrumentation does). Blocks nest. A call binds the blocks open when it
*starts*, and reports to each of them once when it ends, wherever and whenever that happens (a
stream read after the block closed still counts); calls started elsewhere never reach them.

Misuse has a defined result, never a silent wrong sum:
- a sink open twice in one context (`with m: with m:`) is counted once per call;
- a sink open in several threads or tasks at once has one entry in each;
- a block closed out of order, or in another context than it was opened in (a generator resumed
  on another thread) is closed there and then: it counts nothing more, anywhere, and is detached
  from its own context as soon as that context is current and nothing was attached after it;
- a block opened in a generator's body counts the calls the generator makes while it runs, on
  whatever thread it is resumed, and those of the tasks and threads it starts, but not those its
  consumer makes while it is suspended at a `yield`. A generator that is a context manager
  (`contextlib.contextmanager`, `asynccontextmanager`) is the consumer's block: its consumer's
  calls are the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import threading
from typing import Any

from opentelemetry import context

_BLOCKS = context.create_key("neuralwatt-blocks")
_GENERATOR = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _code(owner: str, method: str) -> Any:
    return getattr(getattr(getattr(contextlib, owner, None), method, None), "__code__", None)


# A generator driven by one of these is its caller's `with` block, not an iteration.
_CONTEXT_MANAGERS = frozenset(code for code in (_code("_GeneratorContextManager", "__enter__"),
                                                _code("_AsyncGeneratorContextManager", "__aenter__")) if code)


class Block:
    """One open block: its sink, what `context.attach` gave, and for a block opened in a
    generator's body, that frame and the thread and task it was opened in."""

    __slots__ = ("sink", "attached", "token", "frame", "owner", "closed")

    def __init__(self, sink: Any, frame: Any = None) -> None:
        self.sink, self.frame = sink, frame
        self.attached: Any = None
        self.token: Any = None
        self.owner: tuple | None = None
        self.closed = False


# id(generator frame) -> the blocks open in that generator's body (see `_running`).
_in_generators: dict[int, list[Block]] = {}
_lock = threading.Lock()


def current(within: Any = None) -> tuple:
    """The sinks of the blocks a call starting now binds (in `within`, a context already read):
    open ones, outermost first, each once."""
    blocks: Any = context.get_value(_BLOCKS) if within is None else within.get(_BLOCKS)
    if not blocks and not _in_generators:
        return ()
    sinks: list = []
    here = None
    for block in blocks or ():
        if block.closed:
            continue
        if block.owner is not None:  # opened in a generator's body: see `_running` for its own thread
            here = here or _where()
            if here == block.owner:
                continue
        _add(sinks, block.sink)
    if _in_generators:
        for block in _running():
            _add(sinks, block.sink)
    return tuple(sinks)


def _add(sinks: list, sink: Any) -> None:
    if not any(kept is sink for kept in sinks):  # by identity: two empty collectors are equal lists
        sinks.append(sink)


def _where() -> tuple:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop runs in this thread
        task = None
    return threading.get_ident(), task


def _running() -> list:
    """The open blocks of the generators running on this thread's stack now."""
    found = []
    frame: Any = sys._getframe(1)
    while frame is not None:
        for block in _in_generators.get(id(frame), ()):
            if block.frame is frame and not block.closed:
                found.append(block)
        frame = frame.f_back
    return found


def open(sink: Any, frame: Any = None) -> Block:  # noqa: A001 - a block is opened and closed
    """Open a block for `sink` (anything with `add(measurement or None)`) in the current context.
    `frame`: the frame whose `with` statement opens it, when that may be a generator's."""
    _unwind()
    block = Block(sink, frame)
    if frame is not None and frame.f_code.co_flags & _GENERATOR and not (
            frame.f_back is not None and frame.f_back.f_code in _CONTEXT_MANAGERS):
        block.owner = _where()
        with _lock:
            _in_generators.setdefault(id(frame), []).append(block)
    blocks: Any = context.get_value(_BLOCKS) or ()
    block.attached = context.set_value(_BLOCKS, (*(b for b in blocks if not b.closed), block))
    block.token = context.attach(block.attached)
    return block


def close(block: Block) -> None:
    """Close a block: it counts no call that starts later."""
    if block.closed:
        return
    block.closed = True
    if block.owner is not None:
        with _lock:
            kept = _in_generators.get(id(block.frame))
            if kept is not None:
                kept.remove(block)
                if not kept:
                    del _in_generators[id(block.frame)]
    block.frame = None  # keep no generator's frame alive
    _unwind()


def _unwind() -> None:
    """Detach closed blocks from the current context, newest first, while each is exactly what
    is current (nothing attached after it, the same context): detaching then restores what was
    current before it, as a `with` exit would have."""
    while True:
        blocks: Any = context.get_value(_BLOCKS)
        if not blocks or not blocks[-1].closed or context.get_current() is not blocks[-1].attached:
            return
        block = blocks[-1]
        if not _reset(block.token):  # the same value, but copied into another task's context
            return
        block.attached = None


def _reset(token: Any) -> bool:
    """`context.detach`, without its error log when the token belongs to another context."""
    var = getattr(token, "var", None)
    if var is None:  # pragma: no cover - a runtime context that is not contextvars'
        context.detach(token)
        return True
    try:
        var.reset(token)
        return True
    except (ValueError, RuntimeError):  # made in another Context, or already used
        return False
