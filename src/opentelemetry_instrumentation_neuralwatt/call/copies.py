"""Copies of our proxies: `copy.copy` of a stream or raw-response proxy gives another proxy of a
copy, ending the same call once; deep copies and pickling behave as the SDK's own object does."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any


class Copyable:
    """`copy.copy` gives another proxy of a copy (ending the same call, once); deep copies and
    pickling work, or fail, exactly as the SDK's own object does (wrapt's proxy refuses them).
    The proxies of one call count their handles: collecting one of them ends the call only when it
    was the last, so a copy dropped early never ends a call the original can still read."""

    if TYPE_CHECKING:  # given by the proxy classes this is mixed into (no class annotations at
        __wrapped__: Any  # run time: wrapt forwards `__annotations__` to the wrapped object)
        _self_invocation: Any
        _self_handles: list

    def __copy__(self):
        made = self._self_like(copy.copy(self.__wrapped__))
        made._self_handles = self._self_handles
        self._self_handles[0] += 1
        return made

    def _self_like(self, wrapped: Any) -> Any:
        """A proxy of the same kind around `wrapped`, for the same call."""
        proxy: Any = type(self)
        return proxy(wrapped, self._self_invocation)

    def _self_last_handle(self) -> bool:
        """Called from `__del__`: whether no other proxy of this call is left."""
        handles = self._self_handles
        handles[0] -= 1
        return handles[0] <= 0

    def __deepcopy__(self, memo):
        return copy.deepcopy(self.__wrapped__, memo)

    def __reduce_ex__(self, protocol):
        return self.__wrapped__.__reduce_ex__(protocol)
