"""Machine checks inside an instruction group, between a native store and its mirrors.

A group's stores reach the copies in a fixed order: the native instruction first, then
mirror copies 1..N (a call's return address reaches the mirrors only at the callee's
entry, copied from the native stack). A page rebuilt inside that window from another
copy may or may not hold this group's store already, so what the CPU does next has to
fit the copy it was rebuilt from:

* A mirror instruction writing copy k faults on copy k (k >= 1). The page is rebuilt
  from a copy j < k, whose store has run, and the mirror instruction must not run
  again: a read-modify-write would apply twice. The hypervisor writes what it would
  have written from copy j (the bytes on another page, the rest of a rep string) and
  moves RIP past it; its flags would equal the native instruction's, already set.
  Only when no copy j < k is healthy is the page rebuilt from a later copy, which
  lacks the store, and the mirror instruction runs again.
* The native rep string instruction faults on the native copy after storing part of
  its range. The mirrors do not have that part yet, so the instance is rolled back
  (its stores undone from the mirror, rdi/rsi/rcx reset from the copies the group saved
  before it) and starts over.
* A mirror instruction faults on the native copy. Copy-type mirrors (xadd, cmpxchg,
  adc, pops, pushes of memory, the callee's entry) read the native copy to copy the
  native store, which no other copy holds yet: the value is lost, and the VM is
  killed with a report rather than run on with the old one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.asm.decoder import OP_MEM, OP_REG, first
from app.contracts import Role, WriteClass
from app.hypervisor.vm import VM
from app.hypervisor.vmstate import PageKind
from app.machine.cpu import GPRS
from app.machine.memory import PAGE
from app.rewriter import Group

_MASK = (1 << 64) - 1
_DF = 1 << 10
_SAVE = re.compile(r"movq\s+%(rdi|rsi|rcx),\s*%(\w+)$")
# Capstone reports these operands' sizes wrong
_SIZES = {"fxsave": 512, "fxsave64": 512}
_ELEMENT = {"b": 1, "w": 2, "d": 4, "q": 8}


@dataclass
class Fault:
    """Where in its group the CPU stood when copy k of a page raised a machine check."""

    vm: VM
    rip: int
    group: Group
    role: str
    after_native: bool
    k: int
    page_va: int

    @property
    def lost(self) -> bool:
        # on the native copy, a mirror instruction only ever reads what the native
        # store (or the call) has just written there for it to copy; fetching its own
        # code from a failed text page is an ordinary machine check
        if self.k != 0 or self.role not in (Role.MIRROR, Role.ENTRY_MIRROR):
            return False
        insn = decode_at(self.vm, self.rip)
        span = operand_span(self.vm, insn) if insn is not None else None
        if span is None:
            return True
        lo, size = span
        return lo < self.page_va + PAGE and self.page_va < lo + size

    def report(self, va: int | None) -> str:
        where = f"va {va:#x}" if va is not None else "a native page"
        when = ("after a call stored its return address and before the callee's entry "
                "copied it to the mirrors" if self.role == Role.ENTRY_MIRROR else
                "after a native store and before its mirror sequence copied it")
        return (f"uncorrectable memory error at {where} {when}: the value was only in "
                "the native copy, and no copy can rebuild it")


def fault_at(vm: VM, k: int, page_va: int) -> Fault | None:
    """The group context of a machine check raised by the CPU's current instruction on
    copy k of the page at `page_va`."""
    rip = vm.cpu.reg("rip")
    group = vm.group_of.get(rip)
    if group is None:
        return None
    roles = [m.role for m in group.members]
    here = next(i for i, m in enumerate(group.members) if m.address == rip)
    native = roles.index(Role.NATIVE) if Role.NATIVE in roles else len(roles)
    return Fault(vm, rip, group, roles[here], here > native, k, page_va)


def source_order(k: int, healthy: list[int]) -> list[int]:
    """Copies to rebuild copy k from, best first: those written before k in a group
    (native first), then the later ones."""
    return sorted(healthy, key=lambda j: (j > k, j))


def resume(fault: Fault | None, j: int) -> None:
    """Make the instruction that faulted fit the copy its page was rebuilt from."""
    if fault is None:
        return
    vm, k = fault.vm, fault.k
    if k >= 1 and j < k and fault.role == Role.MIRROR and fault.after_native:
        _complete(vm, fault.rip, k, j)
    elif k == 0 and fault.role == Role.NATIVE and fault.rip in vm.rep_at and \
            fault.group.wclass.kind == WriteClass.STRING:
        _roll_back(vm, fault.rip, fault.group, j)


def rep_saves(group: Group) -> dict[str, str]:
    """The registers a string group copied rdi/rsi/rcx into before its native rep
    instruction: they hold that instance's starting values while it runs."""
    out = {}
    for m in group.members:
        if m.role == Role.NATIVE:
            break
        found = _SAVE.match(m.text) if m.role == Role.SAVE else None
        if found and found.group(2) in GPRS:
            out[found.group(1)] = found.group(2)
    return out


def _complete(vm: VM, rip: int, k: int, j: int) -> None:
    """Do for copy k what the mirror instruction at rip would do, from copy j, and
    step over it."""
    cpu = vm.cpu
    insn = decode_at(vm, rip)
    if insn is None:
        return
    name = insn.insn_name()
    if name[:4] in ("stos", "movs") and name[4:] in _ELEMENT and not any(
            op.type == OP_REG and insn.reg_name(op.reg).startswith("xmm")
            for op in insn.operands):
        # (movsd with an xmm register is the SSE store, not the string instruction)
        size = _ELEMENT[name[4:]]
        rep = insn.prefix[0] in (0xF2, 0xF3)
        n = cpu.reg("rcx") if rep else 1
        down = bool(cpu.reg("rflags") & _DF)
        rdi = cpu.reg("rdi")
        lo = rdi - (n - 1) * size if down else rdi
        _copy_range(vm, lo, lo + n * size, k, j)
        step = -n * size if down else n * size
        cpu.set_reg("rdi", (rdi + step) & _MASK)
        if name.startswith("movs"):
            cpu.set_reg("rsi", (cpu.reg("rsi") + step) & _MASK)
        if rep:
            cpu.set_reg("rcx", 0)
        _count(vm, rip, n)
    else:
        span = operand_span(vm, insn)
        if span is not None:
            _copy_range(vm, span[0], span[0] + span[1], k, j)
        _count(vm, rip, 1)
    cpu.set_reg("rip", rip + insn.size)


def _roll_back(vm: VM, rip: int, group: Group, j: int) -> None:
    """Undo what this instance of the native rep instruction stored, from mirror copy j
    (which it has not reached yet), and start the instance over."""
    cpu = vm.cpu
    saves = rep_saves(group)
    if "rdi" not in saves:
        return
    size = group.wclass.size
    start, rdi = cpu.reg(saves["rdi"]), cpu.reg("rdi")
    down = bool(cpu.reg("rflags") & _DF)
    done = ((start - rdi) if down else (rdi - start)) // size
    if done <= 0:
        return
    lo = rdi + size if down else start
    _copy_range(vm, lo, lo + done * size, 0, j)
    for reg in ("rdi", "rsi", "rcx"):
        if reg in saves:
            cpu.set_reg(reg, cpu.reg(saves[reg]))
    _count(vm, rip, -done)


def _copy_range(vm: VM, lo: int, hi: int, k: int, j: int) -> None:
    """Copy guest bytes [lo, hi), addressed in copy k, from the same bytes of copy j."""
    mem = vm.mem
    va = lo
    while va < hi:
        n = min(hi - va, PAGE - (va & 0xFFF))
        page = vm.pages.get((va - k * vm.offset) & ~0xFFF)
        if page is not None and page.kind == PageKind.RAM and max(j, k) <= len(page.mirrors):
            frames = [page.frame, *page.mirrors]
            off = va & 0xFFF
            mem.write(frames[k] * PAGE + off, mem.read(frames[j] * PAGE + off, n))
        va += n


def _count(vm: VM, rip: int, times: int) -> None:
    counting = vm.counting
    i = counting.index.get(rip)
    if i is not None:
        counting.add(i, i + 1, times)


def decode_at(vm: VM, rip: int):
    placed = vm.image.by_address.get(rip)
    return first(bytes(placed.encoding), rip) if placed else None


def operand_span(vm: VM, insn) -> tuple[int, int] | None:
    """The guest address and size of the instruction's memory operand."""
    for op in insn.operands:
        if op.type != OP_MEM or op.mem.segment:
            continue
        total = op.mem.disp
        for reg, scale in ((op.mem.base, 1), (op.mem.index, op.mem.scale)):
            if not reg:
                continue
            name = insn.reg_name(reg)
            if name == "rip":
                total += insn.address + insn.size
            elif name in GPRS:
                total += vm.cpu.reg(name) * scale
            else:
                return None
        return total & _MASK, _SIZES.get(insn.insn_name(), op.size)
    return None
