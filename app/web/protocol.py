"""Checks every command a browser sends against protocol.json before it reaches a session."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema


class ProtocolError(Exception):
    pass


class Refused(Exception):
    """A well-formed command the server will not carry out now (the message says why)."""


@cache
def _validators() -> dict[str, jsonschema.Draft202012Validator]:
    # built once: jsonschema.validate() would re-check the schema on every command
    doc = json.loads((Path(__file__).parent / "protocol.json").read_text())
    defs = doc["$defs"]
    return {name: jsonschema.Draft202012Validator({**s, "$defs": defs})
            for name, s in doc["commands"].items()}


def commands() -> list[str]:
    return sorted(_validators())


def check(command: str, payload) -> dict:
    """The payload if `command` is known and the payload fits its schema; else ProtocolError
    with a message that says what is wrong (never the whole payload back)."""
    validator = _validators().get(command)
    if validator is None:
        raise ProtocolError(f"unknown command '{command}'")
    payload = {} if payload is None else payload
    error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        raise ProtocolError(f"bad '{command}' command: {where}: {error.message[:160]}")
    # JSON Schema's "integer" admits 1.0: hand the handlers real ints
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in payload.items()}
