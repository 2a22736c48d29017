"""The contracts between the engine and its clients, in one place: the shared words
(enums.py), the JSON Schemas of events, snapshots, recipes, commands and pushes with
their one loader and validator (schemas.py), and the constants document the page
reads (constants.py). Pure: it reads its own files and nothing else, so every layer
may use it."""

from app.contracts.constants import PTE_FRAME_MASK, constants
from app.contracts.enums import (
    CHANGE_KINDS,
    END_STOPS,
    EVENT_NOTES,
    MARKS,
    NATIVE_COPY,
    RUN_STOPS,
    STEPS,
    TELLING,
    WORD_ERRORS,
    Command,
    ErrorKind,
    EventKind,
    Granularity,
    Level,
    Mode,
    NoteKind,
    Origin,
    OwnerKind,
    Role,
    Status,
    Stop,
    VoteOutcome,
    WriteClass,
    copy_name,
    stop_of,
)
from app.contracts.schemas import (
    command_names,
    first_error,
    validate,
    validate_event,
    validate_push,
    validate_recipe,
    validate_snapshot,
    validator,
)

__all__ = [
    "CHANGE_KINDS", "END_STOPS", "EVENT_NOTES", "MARKS", "NATIVE_COPY", "PTE_FRAME_MASK",
    "RUN_STOPS", "STEPS", "TELLING", "WORD_ERRORS", "Command", "ErrorKind", "EventKind",
    "Granularity", "Level", "Mode", "NoteKind", "Origin", "OwnerKind", "Role", "Status", "Stop",
    "VoteOutcome", "WriteClass", "command_names", "constants", "copy_name", "first_error",
    "stop_of", "validate", "validate_event", "validate_push", "validate_recipe",
    "validate_snapshot", "validator",
]
