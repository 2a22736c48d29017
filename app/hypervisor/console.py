"""A VM's console: what the guest printed (UART and the console hypercall), capped.

Saved states share its buffer instead of copying it: a buffer is only ever appended
to, so a saved (buffer, length) stays a valid prefix; loading a state starts a new
buffer. A history of thousands of steps then holds one console, not thousands.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CONSOLE = 64 * 1024


@dataclass(frozen=True)
class ConsoleState:
    buffer: bytearray
    length: int

    def data(self) -> bytes:
        return bytes(self.buffer[:self.length])

    def text(self) -> str:
        return self.data().decode("latin-1")

    @classmethod
    def from_text(cls, text: str) -> ConsoleState:
        data = bytearray(text.encode("latin-1"))
        return cls(data, len(data))


class Console:
    STATE = ("_buffer",)  # what save() covers: all it holds
    DERIVED = ()

    def __init__(self, data: bytes = b"") -> None:
        self._buffer = bytearray(data[:MAX_CONSOLE])

    def __len__(self) -> int:
        return len(self._buffer)

    def write(self, data: bytes) -> None:
        """Append what fits under the cap (the rest is dropped, as a full log would)."""
        room = MAX_CONSOLE - len(self._buffer)
        if room > 0:
            self._buffer += data[:room]

    def text(self) -> str:
        return self._buffer.decode("latin-1")

    def save(self) -> ConsoleState:
        return ConsoleState(self._buffer, len(self._buffer))

    def load(self, state: ConsoleState) -> None:
        self._buffer = bytearray(state.buffer[:state.length])

    def cut(self, length: int) -> None:
        """Back to its first `length` bytes (in a new buffer: saved states keep theirs)."""
        if length < len(self._buffer):
            self._buffer = bytearray(self._buffer[:length])
