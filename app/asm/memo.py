"""A bounded memo shared by every load of a process: what the loads work out again and
again for the same instruction (its texts, its decoding, its checks), kept by what it
is made of."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """At most `entries` values; once full, the oldest goes first. Loads on several
    threads share one: reads take no lock (a dict read is atomic), writes do."""

    def __init__(self, entries: int = 1 << 16) -> None:
        self._values: dict[Hashable, V] = {}
        self._entries = entries
        self._lock = threading.Lock()
        # the value of `key`, or None: the dict's own method, so that a read (hundreds of
        # thousands a load) costs no call of Python's; the dict is never replaced
        self.get: Callable[[Hashable], V | None] = self._values.get

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def put(self, key: Hashable, value: V) -> V:
        with self._lock:
            self._values[key] = value
            if len(self._values) > self._entries:
                del self._values[next(iter(self._values))]
        return value
