"""The words of a lesson script: actions and checkpoints, written as short sentences.

Actions:      step [N] [rewritten] | back [N] | run | run to TARGET | reset
              | inject KIND TARGET [in vm N]
              TARGET of `run to`: `line N`, a label, or an instruction in quotes
Checkpoints:  mirror equals native | mirror differs from native
              | pte for SYMBOL has a mirror | pte for SYMBOL has no mirror
              | vm N running|exited|killed|fault | exit code K | at line N
              | console shows "TEXT" | log has KIND | register REG is VALUE
              | counter NAME is VALUE | overhead below P%
              Each may end with `in vm N` (default: VM 1).
"""

from __future__ import annotations

import re

from app.contracts import ErrorKind, Granularity, Status
from app.lessons.model import Action, Check, LessonError, Where

_VM = re.compile(r"^(.*?)\s+in vm (\d+)$")
_ACTIONS = [
    ("step", re.compile(r"^step(?:\s+(\d+))?(?:\s+(rewritten))?$")),
    ("back", re.compile(r"^back(?:\s+(\d+))?$")),
    ("run_to", re.compile(r"^run to\s+(.+)$")),
    ("run", re.compile(r"^run$")),
    ("reset", re.compile(r"^reset$")),
    ("inject", re.compile(rf"^inject\s+({'|'.join(ErrorKind)})\s+(\S+)$")),
]
_CHECKS = [
    ("mirror_equal", re.compile(r"^mirror equals native$")),
    ("mirror_differs", re.compile(r"^mirror differs from native$")),
    ("pte_mirror", re.compile(r"^pte for (\S+) has (a|no) mirror$")),
    ("status", re.compile(rf"^vm (\d+) ({'|'.join(Status)})$")),
    ("exit_code", re.compile(r"^exit code (-?\d+)$")),
    ("at_line", re.compile(r"^at line (\d+)$")),
    ("console", re.compile(r'^console shows "(.*)"$')),
    ("log", re.compile(r"^log has (\w+)$")),
    ("register", re.compile(r"^register (\w+) is (\S+)$")),
    ("counter", re.compile(r"^counter (\w+) is (\d+)$")),
    ("overhead", re.compile(r"^overhead below (\d+(?:\.\d+)?)%$")),
]
ACTION_WORDS = "step [N] [rewritten], back [N], run, run to TARGET, reset, inject KIND TARGET"
CHECK_WORDS = ("mirror equals native, mirror differs from native, pte for SYMBOL has a/no "
               f"mirror, vm N {'/'.join(Status)}, exit code K, at line N, "
               'console shows "TEXT", log has KIND, register REG is VALUE, counter NAME is '
               "VALUE, overhead below P%")


def _split_vm(text: str) -> tuple[str, int]:
    m = _VM.match(text)
    return (m.group(1), int(m.group(2))) if m else (text, 1)


def action(text: str, where: Where) -> Action:
    body, vm = _split_vm(" ".join(str(text).split()))
    for verb, rx in _ACTIONS:
        m = rx.match(body)
        if not m:
            continue
        g = m.groups()
        if verb == "step":
            args = {"count": int(g[0] or 1), "granularity": g[1] or Granularity.NATIVE}
        elif verb == "back":
            args = {"count": int(g[0] or 1)}
        elif verb == "run_to":
            args = {"target": g[0].strip().strip('"')}
        elif verb == "inject":
            args = {"kind": g[0], "target": g[1], "vm": vm}
        else:
            args = {}
        if args.get("count", 1) < 1 or args.get("count", 1) > 100_000:
            raise LessonError(where, f"'{text}': a count is 1 to 100000")
        return Action(verb, args, where, str(text))
    raise LessonError(where, f"unknown action '{text}' (actions: {ACTION_WORDS})")


def check(text: str, where: Where) -> Check:
    body, vm = _split_vm(str(text).strip())
    for kind, rx in _CHECKS:
        m = rx.match(body)
        if m:
            if kind == "register":
                try:
                    int(m.group(2), 0)
                except ValueError:
                    raise LessonError(where, f"'{text}': {m.group(2)} is not a number") from None
            return Check(kind, {"vm": vm, "groups": m.groups()}, where, str(text))
    raise LessonError(where, f"unknown checkpoint '{text}' (checkpoints: {CHECK_WORDS})")
