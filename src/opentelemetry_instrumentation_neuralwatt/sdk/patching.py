"""Put our wrapper on an SDK method, and take only ours off again.

Other instrumentations may wrap the same methods, before or after us. Ours goes under theirs,
next to the SDK's function, and `unwrap` splices out only ours, so neither order of
instrument/uninstrument removes another instrumentor's wrapper or leaves ours behind.
"""

from __future__ import annotations

import importlib
import logging

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


def _chain(function):
    """The wrappers stacked on a method, outermost first (wrapt proxies and functools.wraps)."""
    while function is not None:
        yield function
        function = getattr(function, "__wrapped__", None)


def _ours_in_chain(function, hook) -> bool:
    return any(getattr(f, "_self_wrapper", None) is hook for f in _chain(function))


# wrapt 2 splits the proxy base from the public ObjectProxy; wrapt 1 has only ObjectProxy.
_PROXY = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)
# (class, method) -> the attribute as it was before our wrapper went on.
_originals: dict = {}


def _innermost_proxy(function):
    """The wrapper closest to the SDK's own function, or None if the method is not wrapped."""
    innermost = None
    for link in _chain(function):
        if not isinstance(link, _PROXY):
            break
        innermost = link
    return innermost


def wrap(module_name: str, path: str, hook) -> None:
    owner, method = _owner(module_name, path)
    if owner is None:
        logger.debug("neuralwatt: %s.%s not in this SDK version", module_name, path)
        return
    current = vars(owner)[method]
    if _ours_in_chain(current, hook):  # left in place, switched off, by an earlier uninstrument()
        return
    innermost = _innermost_proxy(current)
    if innermost is None:
        wrapt.wrap_function_wrapper(owner, method, hook)
        _originals[(owner, method)] = current
    else:
        # Another instrumentation wrapped this method first. Ours goes under it, next to the
        # SDK's function, because instrumentors that undo themselves by removing whatever wrapper
        # is on top (opentelemetry.instrumentation.utils.unwrap) would otherwise remove ours.
        original = innermost.__wrapped__
        innermost.__wrapped__ = wrapt.FunctionWrapper(original, hook)
        _originals[(owner, method)] = original


def unwrap(module_name: str, path: str, hook) -> None:
    """Remove our wrapper only, wherever it sits among other instrumentors' wrappers."""
    owner, method = _owner(module_name, path)
    original = _originals.get((owner, method))
    if owner is None or original is None:
        return
    parent = None
    for function in _chain(vars(owner)[method]):
        if getattr(function, "_self_wrapper", None) is hook:
            if parent is None:
                setattr(owner, method, original)
            elif isinstance(parent, _PROXY):
                # A wrapper put on after ours wraps what attribute access gave it: the
                # class-bound form of what it found, so splice in that form of the original.
                parent.__wrapped__ = original.__get__(None, owner)
            else:  # a plain decorator sits on top of us: we stay, switched off by `state`
                return
            del _originals[(owner, method)]
            return
        parent = function
