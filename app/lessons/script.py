"""Runs a lesson's actions on a session and verifies its checkpoints with the engine."""

from __future__ import annotations

from app.lessons.model import Action, Check, Lesson, LessonError
from app.session import Session, SessionError

RUN_BUDGET = 5_000_000


def new_session(lesson: Lesson) -> Session:
    try:
        return Session(lesson.source, lesson.mirror, lesson.offset, lesson.compare,
                       mirror_devices=lesson.mirror_devices)
    except SessionError as e:
        where = f"line {e.line}: " if e.line else ""
        raise SessionError(f"the lesson's program ({lesson.program_name}): {where}{e.message}",
                           e.line) from None


def perform(s: Session, action: Action, progress=None) -> list[dict]:
    """Do one action; the events it produced. Errors become LessonError at the action."""
    a = action.args
    try:
        if action.verb == "step":
            events = []
            for _ in range(a["count"]):
                if all(vm.status != "running" for vm in s.vms):
                    break
                events += s.step(a["granularity"])
            return events
        if action.verb == "back":
            events = []
            for _ in range(min(a["count"], s.history.position)):
                events += s.back()
            return events
        if action.verb == "run":
            return s.run(RUN_BUDGET, chunk=50_000 if progress else None, progress=progress)
        if action.verb == "run_to":
            return s.run(RUN_BUDGET, breakpoints={target_address(s, a["target"], action)},
                         chunk=50_000 if progress else None, progress=progress)
        if action.verb == "reset":
            return s.reset()
        if action.verb == "inject":
            return s.inject(a["kind"], a["target"], a["vm"] if len(s.vms) > 1 else None)
    except SessionError as e:
        raise LessonError(action.where, f"'{action.text}': {e.message}") from None
    raise LessonError(action.where, f"cannot do '{action.text}'")


def target_address(s: Session, target: str, action: Action) -> int:
    """`line N`, a label of the program, or an instruction's text."""
    groups = [g for g in s.vms[0].groups if g.origin == "program" and g.members]
    if target.startswith("line "):
        try:
            line = int(target[5:])
        except ValueError:
            raise LessonError(action.where, f"'{target}' is not 'line N'") from None
        hit = [g for g in groups if g.line == line]
    else:
        symbols = s.build.native.symbols
        if target in symbols:
            hit = [g for g in groups if g.native_address == symbols[target]]
        else:
            want = " ".join(target.replace(",", ", ").split())
            hit = [g for g in groups if " ".join(g.native_text.replace(",", ", ").split())
                   == want]
    if not hit:
        raise LessonError(action.where, f"'run to {target}': no such line, label or "
                          "instruction in the program")
    return hit[0].native_address


# a log note's kind as a checkpoint says it: "the log has a machine check in VM 1"
NOTE_WORDS = {
    "vm_created": "a VM start", "hypercall": "a hypercall", "mmu_update": "a page-table update",
    "refused": "a refused request", "exit": "an exit", "inject": "an injected error",
    "ce": "a corrected error", "mce": "a machine check", "recovered": "a recovery",
    "killed": "a killed VM", "fault": "a fault", "vote": "an NMR vote", "scrub": "a scrub",
    "limit": "a limit reached", "watch": "a watchpoint hit",
}


def _note_words(kind: str, article: bool = True) -> str:
    words = NOTE_WORDS.get(kind, f"a '{kind}' note")
    return words if article else words.split(" ", 1)[1]


def verify(s: Session, check: Check) -> tuple[bool, str]:
    """(passed, what the engine sees)."""
    try:
        return _verify(s, check)
    except SessionError as e:
        return False, e.message


def _verify(s: Session, check: Check) -> tuple[bool, str]:
    g = check.args["groups"]
    vm = s.vm(check.args["vm"])
    k = check.kind
    if k in ("mirror_equal", "mirror_differs"):
        same = s.hv.mirror_consistent(vm)
        if same is None:
            return False, f"{vm.name} has no mirror"
        seen = "equals" if same else "differs from"
        return same == (k == "mirror_equal"), f"the mirror {seen} native memory"
    if k == "pte_mirror":
        va = s.address_of(g[0])
        page = vm.pages.get(va & ~0xFFF)
        if page is None:
            return False, f"{g[0]} ({va:#x}) is not mapped"
        n = len(page.mirrors)
        return (n > 0) == (g[1] == "a"), f"the page of {g[0]} has {n} mirror PTE(s)"
    if k == "status":
        vm = s.vm(int(g[0]))
        return vm.status == g[1], f"VM {vm.id} is {vm.status}"
    if k == "exit_code":
        return vm.exit_code == int(g[0]), f"exit code is {vm.exit_code}"
    if k == "at_line":
        here = s.current_group(vm)
        line = here.line if here is not None and here.origin == "program" else None
        return line == int(g[0]), f"{vm.name} is at line {line}"
    if k == "console":
        text = vm.console.text()
        shown = text[-60:].replace("\n", " ⏎ ").strip()
        return g[0] in text, f"the console shows “{shown}”" if shown else "the console is empty"
    if k == "log":
        kinds = {n["kind"] for n in s.hv.log if n.get("vm") in (vm.id, None)}
        where = f"VM {vm.id}"
        if g[0] in kinds:
            return True, f"the log has {_note_words(g[0])} in {where}"
        seen = ", ".join(_note_words(kind) for kind in sorted(kinds)) or "nothing yet"
        missing = _note_words(g[0], article=False)
        return False, f"the log has no {missing} in {where} (it has {seen})"
    if k == "register":
        value = vm.cpu.reg(g[0]) if g[0] in vm.cpu.state() else None
        want = int(g[1], 0)
        shown = "not a register" if value is None else f"{value:#x} ({value})"
        return value == want, f"{g[0]} is {shown}"
    if k == "counter":
        c = vm.counters.to_json()
        return c.get(g[0]) == int(g[1]), f"{g[0]} is {c.get(g[0])}"
    if k == "overhead":
        c = vm.counters
        over = 100 * (c.executed_instructions / max(1, c.native_instructions) - 1)
        return over < float(g[0]), f"overhead is {over:.1f}%"
    return False, f"unknown checkpoint {k}"
