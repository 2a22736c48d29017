"""The one loader of the contracts: the JSON Schemas beside this file, and the schema
of the shared words built from enums.py (`kmemvisor-lab/enums`), which the files
refer to instead of listing the words themselves (the loader fills the lists in).
Server and tests validate here."""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from importlib import resources

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.contracts import enums as e

# contract -> its file
FILES = {"event": "event.json", "snapshot": "snapshot.json", "recipe": "recipe.json",
         "commands": "commands.json", "pushes": "pushes.json"}
ENUMS_ID = "kmemvisor-lab/enums"

# the lists the schemas refer to ($defs of the enums schema), each from its enum
WORDS: dict[str, tuple[StrEnum, ...]] = {
    "status": tuple(e.Status), "run_stop": e.RUN_STOPS, "end_stop": e.END_STOPS,
    "mode": tuple(e.Mode), "role": tuple(e.Role), "granularity": tuple(e.Granularity),
    "step_command": e.STEPS,
    "note_kind": e.EVENT_NOTES, "mark": e.MARKS, "change_kind": e.CHANGE_KINDS,
    "owner_kind": tuple(e.OwnerKind), "write_class": tuple(e.WriteClass),
    "level": tuple(e.Level), "error_kind": tuple(e.ErrorKind), "word_error": e.WORD_ERRORS,
    "origin": tuple(e.Origin), "vote_outcome": tuple(e.VoteOutcome),
}


def enums_schema() -> dict:
    """The shared words as a schema: one `$defs` entry per list, generated."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": ENUMS_ID,
            "$defs": {name: {"enum": [str(w) for w in words]}
                      for name, words in WORDS.items()}}


@cache
def document(name: str) -> dict:
    """A contract's schema file as written (`name` as in FILES)."""
    return json.loads(resources.files(__package__).joinpath(FILES[name]).read_text())


def _inline(node, words: dict):
    """`node` with every reference to the shared words replaced by their list: a
    reference into another resource costs a lookup at each validation, and the
    commands are checked on every message."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("enums#/$defs/"):
            return {**words[ref.rsplit("/", 1)[1]], **{k: v for k, v in node.items()
                                                       if k != "$ref"}}
        return {k: _inline(v, words) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, words) for v in node]
    return node


@cache
def schema(name: str) -> dict:
    """A contract's schema as validated: the file with the shared words filled in."""
    return _inline(document(name), enums_schema()["$defs"])


@cache
def registry() -> Registry:
    docs = [enums_schema(), *(schema(n) for n in FILES)]
    return Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
        for doc in docs)


@cache
def validator(name: str, part: str | None = None) -> jsonschema.Draft202012Validator:
    """The validator of a contract, or of one part of it: a command of `commands`
    (its `commands/<part>`), a push of `pushes` or any other `$defs/<part>`. Built
    once: checking the schema again for each instance would cost more than the
    instance. The schemas themselves are checked by the tests (tests/test_contracts.py),
    not here: the first command of each kind would pay for it."""
    doc = schema(name)
    if part is None:
        chosen = doc
    else:
        where = "commands" if name == "commands" else "$defs"
        if part not in doc[where]:
            raise KeyError(f"{name} has no '{part}'")
        # the part as a schema of its own, its file's definitions beside it
        chosen = {**doc[where][part], "$defs": doc["$defs"]}
    return jsonschema.Draft202012Validator(chosen, registry=registry())


def first_error(name: str, instance, part: str | None = None
                ) -> jsonschema.ValidationError | None:
    """The most telling way `instance` breaks the contract, or None if it fits."""
    return jsonschema.exceptions.best_match(validator(name, part).iter_errors(instance))


def validate(name: str, instance, part: str | None = None) -> None:
    """Raise jsonschema.ValidationError if `instance` breaks the contract."""
    error = first_error(name, instance, part)
    if error is not None:
        raise error


def validate_event(event: dict) -> None:
    validate("event", event)


def validate_snapshot(snap: dict) -> None:
    validate("snapshot", snap)


def validate_recipe(doc: dict) -> None:
    validate("recipe", doc)


def validate_push(name: str, body: dict) -> None:
    """A push beside events and snapshots (`program`, `classroom` or `roster`)."""
    validate("pushes", body, name)


@cache
def command_names() -> tuple[str, ...]:
    return tuple(sorted(document("commands")["commands"]))
