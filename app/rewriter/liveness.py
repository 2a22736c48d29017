"""Which general registers are dead where: the rewriter's scratch registers come from
here, so a mirror sequence needs no save and restore when a register is free.

Whole-program backward analysis over 16-bit masks. Sound without assuming the ABI:
a direct call reads what its callee reads plus what is live after it; a `ret`
returns to some call site, so what is live after any call site is live at every
`ret`; an indirect jump or call, or leaving the program, makes everything live.
Writes to 8- and 16-bit parts do not kill a register (the rest of it survives).
"""

from __future__ import annotations

from collections.abc import Callable

from app.asm.memo import Memo
from app.asm.registers import FAMILY as _FAMILY
from app.asm.registers import GPRS
from app.rewriter.classify import Decoded

BIT = {r: 1 << i for i, r in enumerate(GPRS)}
ALL = (1 << len(GPRS)) - 1


def mask(regs) -> int:
    m = 0
    for r in regs:
        f = _FAMILY.get(r)
        if f:
            m |= BIT[f[0]]
    return m


def _use_def(d: Decoded) -> tuple[int, int]:
    """The registers the instruction reads and those it overwrites whole, as masks."""
    key = d[1:]  # everything but the address, which they never depend on
    known = _USE_DEF.get(key)
    return known if known is not None else _USE_DEF.put(key, _compute_use_def(d))


# the same instruction recurs all over a program: worked out once for every one
_USE_DEF: Memo[tuple[int, int]] = Memo()


def _compute_use_def(d: Decoded) -> tuple[int, int]:
    use = mask(d.regs_read)
    kill = 0
    for r in d.regs_written:
        f = _FAMILY.get(r)
        if f and f[1] >= 4:
            kill |= BIT[f[0]]
    # Capstone leaves out a few implicit reads the CPU really makes
    if d.name.startswith(("stos", "movs", "lods", "scas", "cmps")) and d.name not in (
            "movsx", "movsxd", "movss"):
        use |= BIT["rdi"] | BIT["rsi"] | BIT["rax"] | (BIT["rcx"] if d.rep else 0)
    if d.name.startswith("cmov") or d.name in ("bsf", "bsr"):
        # the destination may keep its old value (condition false, source zero)
        use |= mask(d.regs_written)
        kill = 0
    if d.name.startswith("xlat"):
        use |= BIT["rbx"] | BIT["rax"]
    if d.name == "enter":
        use |= BIT["rbp"] | BIT["rsp"]
    if d.name == "int":
        use |= BIT["rax"] | BIT["rdi"] | BIT["rsi"] | BIT["rdx"] | BIT["r10"]
        kill |= BIT["rax"]
    return use, kill & ~use if d.name in ("xchg", "xadd", "cmpxchg") else kill


def live_out(decoded: list[Decoded], succ: list[list[int]], kind: list[str],
             call_target: list[int | None],
             tick: Callable[[int], None] | None = None) -> list[int]:
    """Live-after mask for each instruction.

    kind[i]: 'plain' | 'call' | 'icall' (indirect call) | 'ret' | 'opaque' (indirect jump,
    leaves the program).
    succ[i]: successor indices for plain instructions (fall-through and direct targets).
    call_target[i]: callee index for direct calls to a known instruction.
    tick(i): called now and then with the instruction at hand (a load's time budget).
    """
    n = len(decoded)
    ud = [_use_def(d) for d in decoded]
    readers = _readers(succ, kind, call_target)
    rets = [i for i in range(n) if kind[i] == "ret"]
    # every call site, direct or not, is a place some `ret` may return to
    after_call = {c + 1 for c in range(n) if kind[c] in ("call", "icall") and c + 1 < n}
    ret_out = ALL if n and kind[n - 1] in ("call", "icall") else 0
    # a worklist rather than sweeps until nothing changes: each mask only grows, so an
    # instruction is recomputed at most 16 times per reader, where sweeps can take one
    # per instruction of a chain of backward jumps (quadratic)
    live_in = [0] * n
    todo = list(range(n))
    queued = [True] * n
    done = 0
    while todo:
        i = todo.pop()
        queued[i] = False
        done += 1
        if tick is not None and done % 1024 == 0:
            tick(i)
        new = _transfer(i, kind[i], ud[i], succ[i], call_target[i], live_in, ret_out)
        if new == live_in[i]:
            continue
        live_in[i] = new
        woken = readers[i]
        if i in after_call and ret_out | new != ret_out:
            ret_out |= new
            woken = woken + rets
        for r in woken:
            if not queued[r]:
                queued[r] = True
                todo.append(r)
    outs = []
    for i in range(n):
        if kind[i] in ("opaque", "icall", "ret", "call"):
            outs.append(ALL)
        else:
            o = 0
            for s in succ[i]:
                o |= live_in[s] if s < n else ALL
            outs.append(o)
    return outs


def _readers(succ: list[list[int]], kind: list[str],
             call_target: list[int | None]) -> list[list[int]]:
    """For each instruction, the instructions whose live-in reads its live-in."""
    n = len(kind)
    readers: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        if kind[i] == "call":
            reads = [i + 1, call_target[i]]
        elif kind[i] in ("opaque", "icall", "ret"):
            reads = []  # constant, or through ret_out
        else:
            reads = succ[i]
        for s in reads:
            if s is not None and s < n:
                readers[s].append(i)
    return readers


def _transfer(i: int, k: str, ud: tuple[int, int], succ: list[int], target: int | None,
              live_in: list[int], ret_out: int) -> int:
    n = len(live_in)
    if k in ("opaque", "icall"):
        return ALL
    if k == "ret":
        return ret_out | BIT["rsp"]
    if k == "call":
        after = live_in[i + 1] if i + 1 < n else ALL
        callee = live_in[target] if target is not None else ALL
        return callee | after | ud[0]
    out = 0
    for s in succ:
        out |= live_in[s] if s < n else ALL
    use, kill = ud
    return use | (out & ~kill)


def live_in_of(outs: list[int], decoded: list[Decoded], i: int) -> int:
    use, kill = _use_def(decoded[i])
    return use | (outs[i] & ~kill)
