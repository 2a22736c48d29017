"""What a session can be asked without touching its parts: a VM's facts as one read
model (for a lesson's checkpoints, and anything else that judges a session), the
instruction a lesson names, and why a paced run stops after a step."""

from __future__ import annotations

from dataclasses import dataclass

from app.contracts import NATIVE_COPY, Origin, Status, Stop, stop_of
from app.session.errors import SessionError


@dataclass(frozen=True)
class VmFacts:
    """One VM as it is now."""

    id: int
    name: str
    status: str
    exit_code: int | None
    mirror_consistent: bool | None   # None: the VM has no mirror
    line: int | None                 # the program line it is at (None: elsewhere)
    console: str
    log_kinds: frozenset[str]        # kinds of the log's notes about it or the machine
    registers: dict[str, int]
    counters: dict[str, int]
    mirror_ptes: dict[int, int]      # page (guest-virtual) -> how many mirror PTEs


def facts(s, vid: int | None) -> VmFacts:
    vm = s.vm(vid)
    here = s.current_group(vm)
    return VmFacts(
        id=vm.id, name=vm.name, status=vm.status, exit_code=vm.exit_code,
        mirror_consistent=s.hv.mirror_consistent(vm),
        line=here.program_line if here is not None else None,
        console=vm.console.text(),
        log_kinds=frozenset(n["kind"] for n in s.hv.log if n.get("vm") in (vm.id, None)),
        registers=dict(vm.cpu.state()), counters=vm.counters.to_json(),
        mirror_ptes={va: len(page.mirrors) for va, page in vm.pages.items()})


def _spaced(text: str) -> str:
    return " ".join(text.replace(",", ", ").split())


def instruction_at(s, target: str) -> int | None:
    """The native address of `line N`, a label of the program, or an instruction's
    text (the first such instruction); None if there is none. SessionError if `line
    N` is malformed."""
    groups = [g for g in s.vms[0].groups if g.origin == Origin.PROGRAM and g.members]
    if target.startswith("line "):
        try:
            line = int(target[5:])
        except ValueError:
            raise SessionError(f"'{target}' is not 'line N'") from None
        hit = [g for g in groups if g.line == line]
    else:
        symbols = s.build.native.symbols
        if target in symbols:
            hit = [g for g in groups if g.native_address == symbols[target]]
        else:
            hit = [g for g in groups if _spaced(g.native_text) == _spaced(target)]
    return hit[0].native_address if hit else None


def stop_reason(s, events: list[dict], breakpoints: set[int],
                watchpoints: list[tuple[int, int]]) -> Stop | None:
    """Why a paced run (one step at a time) stops after a step that gave `events`: the
    first VM's end, a native store into a watched range, a breakpoint reached; None
    to go on."""
    first = s.vms[0]
    if not events or not s.running():
        return stop_of(first.status)
    for e in events:
        for w in e.get("writes", ()):
            if w["copy"] == NATIVE_COPY and w["va"] is not None and any(
                    va < w["va"] + w["size"] and w["va"] < va + n for va, n in watchpoints):
                return Stop.WATCH
    here = s.current_group(first)
    if first.status == Status.RUNNING and here is not None and \
            here.native_address in breakpoints:
        return Stop.BREAK
    return None
