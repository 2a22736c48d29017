"""The contracts' one home: the schemas take their words from the enums, every note
kind has a definition of its own, and the constants the page reads agree with the
engine's."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from app.abi import MIRROR_COPIES
from app.contracts import EVENT_NOTES, PTE_FRAME_MASK, Mode, NoteKind, constants, schemas
from app.contracts.schemas import FILES, WORDS, document, validate
from app.machine.paging import ADDR_MASK, LEVELS


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_every_schema_is_valid_and_resolves():
    for name in FILES:
        jsonschema.Draft202012Validator.check_schema(document(name))
        jsonschema.Draft202012Validator.check_schema(schemas.schema(name))
        schemas.validator(name)
    for command in schemas.command_names():
        schemas.validator("commands", command)


def test_no_schema_spells_out_a_list_the_enums_hold():
    lists = {frozenset(map(str, words)) for words in WORDS.values()}
    spelled = [(name, node["enum"]) for name in FILES for node in _walk(document(name))
               if "enum" in node and frozenset(node["enum"]) in lists]
    assert spelled == []


def test_every_note_kind_has_one_definition():
    defs = document("event")["$defs"]
    chosen = [(case["if"]["properties"]["kind"]["const"], case["then"]["$ref"].split("/")[-1])
              for case in defs["note"]["allOf"]]
    assert all(defs[name]["properties"]["kind"]["const"] == kind for kind, name in chosen)
    kinds = [kind for kind, _name in chosen]
    assert sorted(kinds) == sorted(EVENT_NOTES) and len(set(kinds)) == len(kinds)
    assert NoteKind.CONSOLE not in kinds


def test_a_note_with_a_field_of_another_kind_is_refused():
    note = {"kind": "exit", "vm": 1, "code": 0}
    validate("event", note, "note")
    with pytest.raises(jsonschema.ValidationError):
        validate("event", {**note, "report": "no"}, "note")
    with pytest.raises(jsonschema.ValidationError):
        validate("event", {"kind": "console", "vm": 1, "text": "x"}, "note")


def test_the_words_agree_with_the_engines():
    assert {m: m.copies for m in Mode} == MIRROR_COPIES
    assert PTE_FRAME_MASK == ADDR_MASK
    assert [str(w) for w in WORDS["level"]] == list(LEVELS)
    from app.contracts.constants import ROLE_MARKS
    from app.rewriter.listing import _MARK as TERMINAL_MARKS
    assert {str(r): (m or " ") for r, m in ROLE_MARKS.items()} == TERMINAL_MARKS


def test_the_constants_document_is_json_and_complete():
    doc = json.loads(json.dumps(constants()))
    assert {m["mode"]: m["copies"] for m in doc["modes"]} == MIRROR_COPIES
    assert int(doc["pte_frame_mask"], 16) == ADDR_MASK
    assert set(doc["stops"]) == {str(s) for s in schemas.e.END_STOPS}


def test_the_page_draws_every_note_kind():
    """The log panel has a line of its own for each note kind of the contract (a new
    kind would otherwise be shown by its bare name)."""
    log_js = (Path(__file__).parents[1] / "static" / "js" / "log.js").read_text()
    drawn = {k for k in EVENT_NOTES if f'case "{k}":' in log_js}
    assert set(EVENT_NOTES) - drawn == {NoteKind.VM_CREATED}  # never in the log
