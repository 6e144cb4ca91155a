"""Put our hook on an SDK method, and take only ours off again.

A hook is called as wrapt calls a wrapper, `hook(wrapped, instance, args, kwargs)`, but it goes on
as a plain function of the method's own kind (`def`, `async def`), not as a `wrapt` proxy: a plain
function costs a method call about a third of what a `FunctionWrapper` does (measured: 0.3 against
0.73 µs warm, and 4 µs against 0 µs inside a whole SDK call), and every whole call passes two or
three of them. It keeps the method's name, docstring and signature (`functools.wraps`).

Other instrumentations may wrap the same methods, before or after us. Ours goes under theirs,
next to the SDK's function, and `unwrap` splices out only ours, so neither order of
instrument/uninstrument removes another instrumentor's wrapper or leaves ours behind.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import types
import weakref
from typing import Any

import wrapt

logger = logging.getLogger(__name__)


def _owner(module_name: str, path: str):
    """The class that holds the method (`Class.method`), or the module that holds a function
    (`function`), and its name; None if this SDK lacks it."""
    class_name, _, method = path.rpartition(".")
    try:
        owner = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
    except (ImportError, AttributeError):
        return None, method
    return (owner if method in vars(owner) else None), method


# wrapt 2 splits the proxy base from the public ObjectProxy; wrapt 1 has only ObjectProxy.
_PROXY = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


def _chain(function):
    """The wrappers stacked on a method, outermost first (wrapt proxies and functools.wraps)."""
    while function is not None:
        yield function
        function = getattr(function, "__wrapped__", None)


def _is_ours(function, hook) -> bool:
    if isinstance(function, _PROXY):  # a proxy answers with the attributes of what it wraps
        return getattr(function, "_self_wrapper", None) is hook
    # functools.wraps copies our marker onto a plain decorator put on after us (sentry_sdk's
    # integration patches so): ours is also one `hooked` made.
    return function in _HOOKED and getattr(function, "_neuralwatt_hook", None) is hook


def _ours_in_chain(function, hook) -> bool:
    return any(_is_ours(f, hook) for f in _chain(function))


# The plain functions `hooked` made (a WeakSet: one that was replaced and dropped is gone).
_HOOKED: weakref.WeakSet = weakref.WeakSet()
# (class, method) -> the attribute as it was before our hook went on.
_originals: dict = {}


def _innermost_proxy(function):
    """The wrapper closest to the SDK's own function, or None if the method is not wrapped."""
    innermost = None
    for link in _chain(function):
        if not isinstance(link, _PROXY):
            break
        innermost = link
    return innermost


def hooked(original: Any, hook, method: bool) -> Any:
    """`original` with `hook` around it, as a function of the same kind."""
    if not isinstance(original, types.FunctionType) or inspect.isgeneratorfunction(original) \
            or inspect.isasyncgenfunction(original):
        # A descriptor, or a generator function (whose kind a plain function could keep only by
        # re-yielding every item): a wrapt proxy, which answers as the function it wraps.
        return wrapt.FunctionWrapper(original, hook)
    if method:
        if inspect.iscoroutinefunction(original):
            async def patched(self, *args, **kwargs):
                return await hook(original.__get__(self), self, args, kwargs)
        else:
            def patched(self, *args, **kwargs):  # type: ignore[misc]
                return hook(original.__get__(self), self, args, kwargs)
    elif inspect.iscoroutinefunction(original):
        async def patched(*args, **kwargs):  # type: ignore[misc]
            return await hook(original, None, args, kwargs)
    else:
        def patched(*args, **kwargs):  # type: ignore[misc]
            return hook(original, None, args, kwargs)
    patched = functools.wraps(original)(patched)
    patched._neuralwatt_hook = hook  # type: ignore[attr-defined]
    _HOOKED.add(patched)
    return patched


def wrap(module_name: str, path: str, hook) -> None:
    owner, method = _owner(module_name, path)
    if owner is None:
        logger.debug("neuralwatt: %s.%s not in this SDK version", module_name, path)
        return
    current = vars(owner)[method]
    if _ours_in_chain(current, hook):  # left in place, switched off, by an earlier uninstrument()
        return
    is_method = isinstance(owner, type)
    innermost = _innermost_proxy(current)
    if innermost is None:
        setattr(owner, method, hooked(current, hook, is_method))
        _originals[(owner, method)] = current
    else:
        # Another instrumentation wrapped this method first. Ours goes under it, next to the
        # SDK's function, because instrumentors that undo themselves by removing whatever wrapper
        # is on top (opentelemetry.instrumentation.utils.unwrap) would otherwise remove ours.
        original = innermost.__wrapped__
        innermost.__wrapped__ = hooked(original, hook, is_method)
        _originals[(owner, method)] = original


def unwrap(module_name: str, path: str, hook) -> None:
    """Remove our hook only, wherever it sits among other instrumentors' wrappers."""
    owner, method = _owner(module_name, path)
    original = _originals.get((owner, method))
    if owner is None or original is None:
        return
    parent = None
    for function in _chain(vars(owner)[method]):
        if _is_ours(function, hook):
            if parent is None:
                setattr(owner, method, original)
            elif isinstance(parent, _PROXY):
                # A wrapper put on after ours wraps what attribute access gave it: the
                # class-bound form of what it found, so splice in that form of the original.
                parent.__wrapped__ = original.__get__(None, owner) if isinstance(owner, type) else original
            else:  # a plain decorator sits on top of us: we stay, switched off by `state`
                return
            del _originals[(owner, method)]
            return
        parent = function
