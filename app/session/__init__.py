"""Sessions: a program, a machine, its VMs and their history, driven by commands that
return step events and drawn whole by snapshots (schemas in app/contracts).
The web and CLI layers use only this API."""

from app.abi import parse_offset
from app.asm import stop_worker as stop_assembler
from app.asm.budget import DEFAULT_LOAD_SECONDS, LoadBudget
from app.contracts import validate_event, validate_snapshot
from app.examples import DEFAULT as DEFAULT_EXAMPLE
from app.examples import names as example_names
from app.examples import source as example_source
from app.hypervisor.faults import CARDS as ERROR_CARDS
from app.hypervisor.faults import EXPLAIN as ERROR_KINDS
from app.session.headless import describe as describe_result
from app.session.headless import error_result, run_program
from app.session.program import forget_builds
from app.session.recipe import (
    check_replay,
    commands,
    document,
    encode,
    from_document,
    from_recipe,
    recipe,
    trace,
)
from app.session.saved import CheckpointError, to_bytes
from app.session.session import Session, SessionError
from app.session.snapshot import frame_hex, program_view, snapshot

__all__ = ["DEFAULT_EXAMPLE", "DEFAULT_LOAD_SECONDS", "ERROR_CARDS", "ERROR_KINDS",
           "CheckpointError", "LoadBudget", "Session", "SessionError", "stop_assembler",
           "describe_result", "error_result", "forget_builds", "run_program", "to_bytes",
           "check_replay", "commands", "document", "encode", "example_names", "example_source",
           "frame_hex", "from_document", "from_recipe", "parse_offset", "program_view", "recipe",
           "snapshot", "trace", "validate_event", "validate_snapshot"]
