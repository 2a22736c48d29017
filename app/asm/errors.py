"""The one error type the assembler raises: always a message and, when known, a line."""

from __future__ import annotations


class AsmError(Exception):
    def __init__(self, message: str, line: int | None = None, origin: str = "program") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.origin = origin

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}: " if self.line is not None else ""
        return f"{where}{self.message}"

    def placed(self, line: int | None, origin: str = "program") -> AsmError:
        """The same error at `line`: raised by a caller that knows where it was."""
        return AsmError(self.message, line, origin)

    @property
    def program_line(self) -> int | None:
        """The line in the program's own text (None: elsewhere, or not known)."""
        return self.line if self.origin == "program" else None

    def to_json(self) -> dict:
        return {"message": self.message, "line": self.program_line}
