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


class ShapeMemo(Generic[V]):
    """Values by what an instruction is made of (prefixes, mnemonic, operands), found by
    the operand tuple itself first: the lines of a program that write the same operands
    share one tuple (the parser's), and hashing the operands (frozen dataclasses: a
    Python call each) cost more than the rest of a lookup. An entry found by identity
    holds its tuple, so that no other tuple can come to have its id."""

    def __init__(self, entries: int = 1 << 16) -> None:
        self._by_value: Memo[V] = Memo(entries)
        self._by_id: Memo[tuple[tuple, V]] = Memo(entries)

    def get(self, prefixes: tuple[str, ...], mnemonic: str, operands: tuple) -> V | None:
        key = (id(operands), prefixes, mnemonic)
        hit = self._by_id.get(key)
        if hit is not None and hit[0] is operands:
            return hit[1]
        value = self._by_value.get((prefixes, mnemonic, operands))
        if value is not None:
            self._by_id.put(key, (operands, value))
        return value

    def put(self, prefixes: tuple[str, ...], mnemonic: str, operands: tuple, value: V) -> V:
        self._by_value.put((prefixes, mnemonic, operands), value)
        self._by_id.put((id(operands), prefixes, mnemonic), (operands, value))
        return value
