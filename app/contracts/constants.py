"""The constants document: what the page must know of the contracts (modes and their
copies, roles, stops, the PTE's frame bits, the default offset), sent as JSON inside
the page so that no panel keeps a copy of its own."""

from __future__ import annotations

from app.abi import DEFAULT_OFFSET
from app.contracts.enums import END_STOPS, NATIVE_COPY, Mode, Role, Status, Stop, VoteOutcome

# bits 12-51 of a page-table entry hold the frame (the same as app/machine/paging.py's
# ADDR_MASK; tests/test_contracts.py holds them equal)
PTE_FRAME_MASK = 0x000F_FFFF_FFFF_F000

MODE_LABELS = {Mode.ON: "on", Mode.NMR3: "NMR-3", Mode.OFF: "off"}  # the page's order
# the letter a rewritten instruction's role shows in the code panel
ROLE_MARKS = {Role.NATIVE: "", Role.MIRROR: "M", Role.SAVE: "S", Role.RESTORE: "R",
              Role.ENTRY_MIRROR: "E"}
# what the stepping bar says when a run ends
STOP_WORDS = {Stop.BREAK: "stopped at a breakpoint", Stop.WATCH: "stopped at a watchpoint",
              Stop.LIMIT: "stopped: budget used up", Stop.PAUSED: "paused",
              Stop.EXITED: "exited", Stop.KILLED: "a VM was killed",
              Stop.FAULT: "a VM faulted", Stop.ERROR: "stopped on an error"}


def constants() -> dict:
    """The document (JSON: the mask, above 2^53, is a hex string)."""
    return {
        "modes": [{"mode": str(m), "label": MODE_LABELS[m], "copies": m.copies}
                  for m in MODE_LABELS],
        "default_offset": DEFAULT_OFFSET,
        "pte_frame_mask": f"{PTE_FRAME_MASK:#x}",
        "native_copy": NATIVE_COPY,
        "roles": {str(r): ROLE_MARKS[r] for r in Role},
        "statuses": [str(s) for s in Status],
        "stops": {str(s): STOP_WORDS[s] for s in END_STOPS},
        "vote_repaired": str(VoteOutcome.REPAIRED),
    }
