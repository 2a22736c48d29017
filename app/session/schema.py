"""The contracts with clients, as JSON Schemas beside this file: the step event
(schema.json), the session snapshot (snapshot.json) and the session as a file
(recipe.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema


@cache
def _load(name: str) -> dict:
    return json.loads(resources.files(__package__).joinpath(name).read_text())


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema() -> dict:
    return _load("schema.json")


def validate_event(event: dict) -> None:
    """Raise jsonschema.ValidationError if the event breaks the contract."""
    _raise_first(_validator("schema.json"), event)


def validate_snapshot(snap: dict) -> None:
    """Raise jsonschema.ValidationError if the snapshot breaks the contract."""
    _raise_first(_validator("snapshot.json"), snap)


def validate_recipe(doc: dict) -> None:
    """Raise jsonschema.ValidationError if the recipe file breaks the contract."""
    _raise_first(_validator("recipe.json"), doc)


def _raise_first(validator: jsonschema.Draft202012Validator, instance: dict) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error
