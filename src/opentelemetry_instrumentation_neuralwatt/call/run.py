"""The wrappers every adapter's methods get: begin a call's record, run the SDK with the call's
span current, take its result. Every piece of our code runs under a guard: a failure is logged at
debug level and the user's call goes on as if we were not there.

Each step is written twice, once for a synchronous and once for an asynchronous SDK method: the
asynchronous one awaits the SDK inside the same `try`, and a core shared by both (a generator
driven by each) would cost every call a frame more, on the path the overhead rule judges.
"""

from __future__ import annotations

import functools

from .begin import begin
from .invocation import Invocation, pending
from .take import failed, take


def run_as(call: Invocation, wrapped, args, kwargs):
    """Run the SDK's function as `call`: its span current, the call pending, a failure ending it."""
    token = pending.set(call)
    try:
        call.activate()
        return wrapped(*args, **kwargs)
    except BaseException as error:
        failed(call, error)
        raise
    finally:
        pending.reset(token)
        call.deactivate()


async def arun_as(call: Invocation, wrapped, args, kwargs):
    token = pending.set(call)
    try:
        call.activate()
        return await wrapped(*args, **kwargs)
    except BaseException as error:
        failed(call, error)
        raise
    finally:
        pending.reset(token)
        call.deactivate()


def run(adapter, operation: str, wrapped, instance, args, kwargs):
    """One synchronous SDK call, recorded. A call the SDK makes inside one of ours (an older
    `beta...parse` calls `create`) is part of that one: one call, one span. Once its span has
    started, the call ends whatever happens (an interrupt while we read, too)."""
    call = None
    try:
        if pending.get() is None:
            call = begin(adapter, operation, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        return take(call, run_as(call, wrapped, args, kwargs))
    except BaseException as error:
        if call is not None and not call.ended:
            call.end(error=error)
        raise


async def arun(adapter, operation: str, wrapped, instance, args, kwargs):
    """One asynchronous SDK call, recorded."""
    call = None
    try:
        if pending.get() is None:
            call = begin(adapter, operation, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        return take(call, await arun_as(call, wrapped, args, kwargs))
    except BaseException as error:
        if call is not None and not call.ended:
            call.end(error=error)
        raise


def sync_wrapper(adapter, operation: str):
    # The patched method (sdk/patching.py) calls its hook with (wrapped, instance, args, kwargs):
    # that is `run`, with no frame between.
    wrapper = functools.partial(run, adapter, operation)
    wrapper.__name__ = f"neuralwatt_{adapter.api}_{operation}"  # type: ignore[attr-defined]
    return wrapper


def async_wrapper(adapter, operation: str):
    wrapper = functools.partial(arun, adapter, operation)  # the coroutine the SDK's method would return
    wrapper.__name__ = f"neuralwatt_async_{adapter.api}_{operation}"  # type: ignore[attr-defined]
    return wrapper
