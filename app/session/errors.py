"""The error a session answers a command with: a message and, for a program, its line."""

from __future__ import annotations


class SessionError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line

    def __reduce__(self):  # it crosses processes whole (the server's engine processes)
        return type(self), (self.message, self.line)

    def to_json(self) -> dict:
        return {"message": self.message, "line": self.line}
