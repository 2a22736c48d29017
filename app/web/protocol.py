"""Checks every command a browser sends against protocol.json before it reaches a session."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema


class ProtocolError(Exception):
    pass


@cache
def _schemas() -> dict:
    doc = json.loads((Path(__file__).parent / "protocol.json").read_text())
    defs = doc["$defs"]
    return {name: {**s, "$defs": defs} for name, s in doc["commands"].items()}


def commands() -> list[str]:
    return sorted(_schemas())


def check(command: str, payload) -> dict:
    """The payload if `command` is known and the payload fits its schema; else ProtocolError
    with a message that says what is wrong (never the whole payload back)."""
    schema = _schemas().get(command)
    if schema is None:
        raise ProtocolError(f"unknown command '{command}'")
    payload = {} if payload is None else payload
    try:
        jsonschema.validate(payload, schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "payload"
        raise ProtocolError(f"bad '{command}' command: {where}: {e.message[:160]}") from None
    return payload
