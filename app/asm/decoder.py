"""The one place that opens Capstone: a decoder handle per thread and per syntax, and
the names the other modules read a decoded instruction with (operand kinds, groups).

A Capstone handle keeps the state of its last decoding (the instruction's detail
lives inside it), so two threads decoding with one handle can read each other's
operands; the server loads and steps on several threads at once.
"""

from __future__ import annotations

import threading

from capstone import CS_ARCH_X86, CS_GRP_BRANCH_RELATIVE, CS_MODE_64, CS_OPT_SYNTAX_ATT, Cs
from capstone import x86_const as _X

# an operand's `type`
OP_REG, OP_IMM, OP_MEM = _X.X86_OP_REG, _X.X86_OP_IMM, _X.X86_OP_MEM
# in an instruction's `groups`: a branch to an address encoded relative to the next
# instruction
GROUP_BRANCH_RELATIVE = CS_GRP_BRANCH_RELATIVE

_LOCAL = threading.local()


def decoder(att: bool = False) -> Cs:
    """This thread's x86-64 decoder with instruction details, in AT&T syntax or Intel's."""
    handles = getattr(_LOCAL, "handles", None)
    if handles is None:
        handles = _LOCAL.handles = {}
    cs = handles.get(att)
    if cs is None:
        cs = Cs(CS_ARCH_X86, CS_MODE_64)
        if att:
            cs.syntax = CS_OPT_SYNTAX_ATT
        cs.detail = True
        handles[att] = cs
    return cs


def first(code: bytes, address: int, att: bool = False):
    """The first instruction decoded from `code` at `address`, or None."""
    return next(decoder(att).disasm(code, address), None)
