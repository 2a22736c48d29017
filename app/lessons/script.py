"""Runs a lesson's actions on a session and verifies its checkpoints with the engine."""

from __future__ import annotations

from app.lessons.model import Action, Check, Lesson, LessonError
from app.lessons.wording import STATUS_WORDS, counter_words, mirror_ptes, note_words, words
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
                if not s.running():
                    break
                events += s.step(a["granularity"])
            return events
        if action.verb == "back":
            events = []
            for _ in range(min(a["count"], s.history_view()["position"])):
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
            return s.inject(a["kind"], a["target"], a["vm"] if s.comparing() else None)
    except SessionError as e:
        raise LessonError(action.where, f"'{action.text}': {e.message}") from None
    raise LessonError(action.where, f"cannot do '{action.text}'")


def target_address(s: Session, target: str, action: Action) -> int:
    """`line N`, a label of the program, or an instruction's text."""
    try:
        found = s.instruction_at(target)
    except SessionError as e:
        raise LessonError(action.where, e.message) from None
    if found is None:
        raise LessonError(action.where, f"'run to {target}': no such line, label or "
                          "instruction in the program")
    return found


def checked(s: Session, check: Check) -> dict:
    """The checkpoint verified, as the page shows it: {text, ok, seen}."""
    ok, seen = verify(s, check)
    return {"text": words(check), "ok": ok, "seen": seen}


def verify(s: Session, check: Check) -> tuple[bool, str]:
    """(passed, what the engine sees)."""
    try:
        return _verify(s, check)
    except SessionError as e:
        return False, e.message


def _verify(s: Session, check: Check) -> tuple[bool, str]:
    g = check.args["groups"]
    k = check.kind
    vm = s.inspect(int(g[0]) if k == "status" else check.args["vm"])
    if k in ("mirror_equal", "mirror_differs"):
        same = vm.mirror_consistent
        if same is None:
            return False, f"{vm.name} has no mirror"
        seen = "equals" if same else "differs from"
        return same == (k == "mirror_equal"), f"the mirror {seen} native memory"
    if k == "pte_mirror":
        va = s.address_of(g[0])
        n = vm.mirror_ptes.get(va & ~0xFFF)
        if n is None:
            return False, f"{g[0]} ({va:#x}) is not mapped"
        return (n > 0) == (g[1] == "a"), f"the page of {g[0]} has {mirror_ptes(n)}"
    if k == "status":
        return vm.status == g[1], f"VM {vm.id} {STATUS_WORDS.get(vm.status, vm.status)}"
    if k == "exit_code":
        seen = "has not exited" if vm.exit_code is None else \
            f"exited with code {vm.exit_code}"
        return vm.exit_code == int(g[0]), f"VM {vm.id} {seen}"
    if k == "at_line":
        where = f"line {vm.line}" if vm.line is not None else "no line of the program"
        return vm.line == int(g[0]), f"VM {vm.id} is at {where}"
    if k == "console":
        shown = vm.console[-60:].replace("\n", " ⏎ ").strip()
        return g[0] in vm.console, f"the console shows “{shown}”" if shown else \
            "the console is empty"
    if k == "log":
        where = f"VM {vm.id}"
        if g[0] in vm.log_kinds:
            return True, f"the log has {note_words(g[0])} in {where}"
        seen = ", ".join(note_words(kind) for kind in sorted(vm.log_kinds)) or "nothing yet"
        missing = note_words(g[0], article=False)
        return False, f"the log has no {missing} in {where} (it has {seen})"
    if k == "register":
        value = vm.registers.get(g[0])
        want = int(g[1], 0)
        shown = "not a register" if value is None else f"{value:#x} ({value})"
        return value == want, f"{g[0]} is {shown}"
    if k == "counter":
        c = vm.counters
        seen = "not a counter" if g[0] not in c else f"{counter_words(g[0])}: {c[g[0]]}"
        return c.get(g[0]) == int(g[1]), seen
    if k == "overhead":
        c = vm.counters
        over = 100 * (c["executed_instructions"] / max(1, c["native_instructions"]) - 1)
        return over < float(g[0]), f"overhead is {over:.1f}%"
    return False, f"unknown checkpoint {k}"
