"""What every proxy we hand the user in place of an SDK object shares (a stream, an async stream, a
raw or streaming response): it ends its call exactly once, and when it is collected, its call ends,
but not in the finalizer (see deferred.py).

`copy.copy` gives another proxy of a copy, ending the same call once; deep copies and pickling
work, or fail, exactly as the SDK's own object does (wrapt's proxy refuses them). The proxies of
one call count their handles: collecting one of them ends the call only when it was the last, so a
copy dropped early never ends a call the original can still read.
"""

from __future__ import annotations

import copy
from typing import Any

import wrapt

from . import deferred


class CallProxy(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, call: Any) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_handles = [1]

    def __copy__(self):
        made = self._self_like(copy.copy(self.__wrapped__))
        made._self_handles = self._self_handles
        self._self_handles[0] += 1
        return made

    def _self_like(self, wrapped: Any) -> Any:
        """A proxy of the same kind around `wrapped`, for the same call."""
        proxy: Any = type(self)
        return proxy(wrapped, self._self_call)

    def __deepcopy__(self, memo):
        return copy.deepcopy(self.__wrapped__, memo)

    def __reduce_ex__(self, protocol):
        return self.__wrapped__.__reduce_ex__(protocol)

    def __del__(self):
        handles = self._self_handles
        handles[0] -= 1
        if handles[0] <= 0 and not self._self_call.ended:
            end = self._self_collected()
            if end is not None:
                deferred.later(end)

    def _self_collected(self) -> Any:
        """What ends the call when its last proxy is collected (None: nothing)."""
        return self._self_call.finish
