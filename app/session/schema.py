"""The contracts with clients, as JSON Schemas beside this file: the step event
(schema.json) and the session snapshot (snapshot.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema


@cache
def _load(name: str) -> dict:
    return json.loads(resources.files(__package__).joinpath(name).read_text())


def schema() -> dict:
    return _load("schema.json")


def validate_event(event: dict) -> None:
    """Raise jsonschema.ValidationError if the event breaks the contract."""
    jsonschema.validate(event, _load("schema.json"))


def validate_snapshot(snap: dict) -> None:
    """Raise jsonschema.ValidationError if the snapshot breaks the contract."""
    jsonschema.validate(snap, _load("snapshot.json"))
