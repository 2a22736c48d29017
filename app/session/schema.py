"""The step event contract, as a JSON Schema (schema.json beside this file)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema


@cache
def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text())


def validate_event(event: dict) -> None:
    """Raise jsonschema.ValidationError if the event breaks the contract."""
    jsonschema.validate(event, schema())
