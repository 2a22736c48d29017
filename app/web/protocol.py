"""Checks every command a browser sends against its schema (app/contracts/commands.json)
before it reaches a session."""

from __future__ import annotations

from app.contracts import command_names, first_error


class ProtocolError(Exception):
    pass


class Refused(Exception):
    """A well-formed command the server will not carry out now (the message says why)."""


def _utf8(text) -> bool:
    """Whether a string can be written as UTF-8 (a lone surrogate cannot: SQLite and
    the page would fail on it far from here)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def commands() -> list[str]:
    return list(command_names())


def check(command: str, payload) -> dict:
    """The payload if `command` is known and the payload fits its schema; else ProtocolError
    with a message that says what is wrong (never the whole payload back)."""
    if command not in command_names():
        raise ProtocolError(f"unknown command '{command}'")
    payload = {} if payload is None else payload
    if isinstance(payload, dict):
        for key, value in payload.items():
            if not _utf8(key) or isinstance(value, str) and not _utf8(value):
                where = key if _utf8(key) else "a field name"
                raise ProtocolError(f"bad '{command}' command: {where}: text with an "
                                    "invalid character (a lone UTF-16 surrogate)")
    try:
        error = first_error("commands", payload, command)
    except RecursionError:
        raise ProtocolError(f"bad '{command}' command: nested too deeply") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        raise ProtocolError(f"bad '{command}' command: {where}: {error.message[:160]}")
    # JSON Schema's "integer" admits 1.0 (and 1e30): hand the handlers real ints, of a
    # size a command can mean
    out = {}
    for k, v in payload.items():
        if isinstance(v, float) and v.is_integer():
            if abs(v) >= 2 ** 53:
                raise ProtocolError(f"bad '{command}' command: {k}: {v:g} is too large")
            v = int(v)
        out[k] = v
    return out
