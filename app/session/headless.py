"""Headless runs for the CLI: a session driven to the end, with scheduled injections."""

from __future__ import annotations

from app.contracts import NoteKind, Status, Stop
from app.session.session import Session, SessionError

# the notes a CLI run lists, and the CLI's own: an injection it could not make
_LISTED = (NoteKind.INJECT, NoteKind.CE, NoteKind.MCE, NoteKind.RECOVERED, NoteKind.KILLED,
           NoteKind.FAULT, NoteKind.VOTE, NoteKind.SCRUB, NoteKind.REFUSED, "inject_skipped")


def error_result(mirror: str, error: dict) -> dict:
    """The CLI's result for a program that never ran."""
    return {"status": Stop.ERROR, "exit_code": None, "mirror": mirror,
            "mirror_consistent": None, "console": "",
            "counters": {"native_instructions": 0, "executed_instructions": 0,
                         "native_writes": 0, "mirror_writes": 0},
            "events": [], "error": error}


def run_program(source: str, mirror: str, offset: int, max_steps: int,
                injections: list[tuple[str, str, int]] = ()) -> dict:
    try:
        s = Session(source, mirror, offset)
    except SessionError as e:
        return error_result(mirror, e.to_json())
    vm = s.vms[0]
    skipped = []
    for kind, target, at in sorted(injections, key=lambda x: x[2]):
        if vm.status == Status.RUNNING and at <= max_steps and vm.counters.native_instructions < at:
            s.run(max_native=at - vm.counters.native_instructions)
        if vm.status != Status.RUNNING or at > max_steps:
            ended = {Status.EXITED: "exited", Status.KILLED: "been killed"}.get(vm.status,
                                                                              "stopped")
            why = (f"the budget is {max_steps} native instructions" if at > max_steps else
                   f"the VM had {ended} after {vm.counters.native_instructions} native "
                   "instructions")
            skipped.append({"kind": "inject_skipped", "injection": f"{kind}:{target}@{at}",
                            "reason": f"not injected: {why}"})
            continue
        try:
            s.inject(kind, target)
        except SessionError as e:
            result = s.result()
            result.update(status=Stop.ERROR, error=e.to_json(), events=_notes(s))
            return result
    if vm.status == Status.RUNNING:
        s.run(max_native=max_steps - vm.counters.native_instructions)
    result = s.result()
    result["events"] = _notes(s) + skipped
    return result


def _notes(s: Session) -> list[dict]:
    return [n for n in s.hv.log if n["kind"] not in (NoteKind.CONSOLE, NoteKind.VM_CREATED)]


def describe(result: dict) -> str:
    c = result["counters"]
    lines = [f"status: {result['status']}"]
    if result["exit_code"] is not None:
        lines.append(f"exit code: {result['exit_code']}")
    if result.get("error"):
        err = result["error"]
        where = f"line {err['line']}: " if err.get("line") else ""
        lines.append(f"error: {where}{err['message']}")
    lines.append(f"mirror: {result['mirror']}  consistent: {result['mirror_consistent']}")
    lines.append(f"instructions: {c['native_instructions']} native, "
                 f"{c['executed_instructions']} executed; writes: {c['native_writes']} "
                 f"native, {c['mirror_writes']} mirror")
    for e in result["events"]:
        if e["kind"] in _LISTED:
            detail = e.get("report") or e.get("reason") or e.get("outcome") or e.get("error")
            if e["kind"] in ("ce", "mce") and e.get("pa") is not None:
                where = f"va {e['va']:#x}, " if e.get("va") is not None else ""
                detail = (f"bit {e['bit']} corrected at {where}machine {e['pa']:#x}"
                          if e["kind"] == "ce" else f"machine check at {where}machine "
                          f"{e['pa']:#x}")
            if e["kind"] == "inject" and e.get("pa") is not None:
                byte = e["bit"] // 8  # the note names the word; a user aims at a byte
                where = f"va {e['va'] + byte:#x}, " if e.get("va") is not None else ""
                detail = (f"{e['error']} at {where}machine {e['pa'] + byte:#x}, bit "
                          f"{e['bit'] % 8}: its word {e['old']} -> {e['new']}")
            if e["kind"] == "recovered":
                detail = (f"page {e['va']:#x} rebuilt on frame {e['new_frame']:#x} from "
                          f"frame {e['source_frame']:#x}")
            lines.append(f"  {e['kind']}: {detail or ''}")
    if result["console"]:
        lines += ["console:", result["console"]]
    return "\n".join(lines)
