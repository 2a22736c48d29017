"""A lesson's checkpoints and the engine's notes in words, as the page shows them."""

from __future__ import annotations

from app.contracts import NoteKind as N
from app.contracts import Status

# a log note's kind as a checkpoint says it: "the log has a machine check in VM 1"
NOTE_WORDS = {
    N.VM_CREATED: "a VM start", N.HYPERCALL: "a hypercall", N.MMU_UPDATE: "a page-table update",
    N.REFUSED: "a refused request", N.EXIT: "an exit", N.INJECT: "an injected error",
    N.CE: "a corrected error", N.MCE: "a machine check", N.RECOVERED: "a recovery",
    N.KILLED: "a killed VM", N.FAULT: "a fault", N.VOTE: "an NMR vote", N.SCRUB: "a scrub",
    N.LIMIT: "a limit reached", N.WATCH: "a watchpoint hit",
}


def note_words(kind: str, article: bool = True) -> str:
    words = NOTE_WORDS.get(kind, f"a '{kind}' note")
    return words if article else words.split(" ", 1)[1]


STATUS_WORDS = {Status.RUNNING: "is running", Status.EXITED: "has exited",
                Status.KILLED: "was killed", Status.FAULT: "stopped on a fault"}


# a counter's name for one of it ("1 machine check", not "1 machine checks")
_ONE = {"native_instructions": "native instruction", "executed_instructions":
        "executed instruction", "native_writes": "native write", "mirror_writes":
        "mirror write", "corrected_errors": "corrected error", "machine_checks":
        "machine check", "recoveries": "recovery"}


def counter_words(name: str, n: int | None = None) -> str:
    return _ONE.get(name, name.replace("_", " ")) if n == 1 else name.replace("_", " ")


def mirror_ptes(n: int) -> str:
    return "no mirror PTE" if n == 0 else f"{n} mirror PTE{'s' if n > 1 else ''}"


def words(check) -> str:
    """The checkpoint as a sentence ("VM 1 counts 2 native writes"), for the page."""
    g, vm, k = check.args["groups"], f"VM {check.args['vm']}", check.kind
    said = {
        "mirror_equal": lambda: f"the mirror of {vm} equals its native memory",
        "mirror_differs": lambda: f"the mirror of {vm} differs from its native memory",
        "pte_mirror": lambda: f"the page of {g[0]} has {'a' if g[1] == 'a' else 'no'} "
                              f"mirror PTE in {vm}",
        "status": lambda: f"VM {g[0]} {STATUS_WORDS[g[1]]}",
        "exit_code": lambda: f"{vm} exits with code {g[0]}",
        "at_line": lambda: f"{vm} is at line {g[0]}",
        "console": lambda: f"the console of {vm} shows “{g[0]}”",
        "log": lambda: f"the log has {note_words(g[0])} in {vm}",
        "register": lambda: f"{g[0]} is {g[1]} in {vm}",
        "counter": lambda: f"{vm} counts {g[1]} {counter_words(g[0], int(g[1]))}",
        "overhead": lambda: f"the overhead of {vm} is below {g[0]}%",
    }.get(k)
    return said() if said else check.text
