"""NMR-3's read hook, attached to a VM: C for the reads that need nothing (voteread.c),
Python's voter (Recovery.read_voter) for the ones that do, or Python for all of them,
in every run, when no C compiler is at hand. The outcome is the same either way: the C part passes
up every read the Python voter would act on.

The C part reads its tables (which frames hold a voted page and its two mirrors,
which instructions vote, whether an error is pending) from memory this module keeps
current: before every start of the CPU, and after every call up to Python (a vote or
a machine check may rebuild a page on a new frame, or settle the pending errors).

The C hook is installed only for the runs that may need it: those that start with an
error pending in a voted frame, or with a voted word whose three copies differ. Any
read hook sends every load of the run through the slow path, and a run that starts
with equal copies and nothing pending never gives the voter anything to do: only the
hypervisor makes copies differ or errors pend, and only between runs; the guest's own
stores reach every copy before a native instruction reads them (but for a rep movs
reading back its own, which the voter skips: docs/design.md, "Voting at full speed").
"""

from __future__ import annotations

import ctypes

from app.contracts import Role
from app.hypervisor import native_counter as nc
from app.hypervisor.vm import VM
from app.hypervisor.vmstate import PageKind
from app.machine import hooks, native
from app.machine.cpu import Hook
from app.machine.memory import PAGE

_NOTHING = (1 << 64) - 1  # no word in flight (copies_differ's `skip`)
_SLOW = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int,
                         ctypes.c_int64)


class _State(ctypes.Structure):
    _fields_ = [("memory", ctypes.c_void_p), ("size", ctypes.c_uint64),
                ("nframes", ctypes.c_uint64), ("frames", ctypes.POINTER(ctypes.c_uint32)),
                ("code_lo", ctypes.c_uint64), ("code_hi", ctypes.c_uint64),
                ("voter", ctypes.POINTER(ctypes.c_uint8)), ("pending", ctypes.c_uint64),
                ("reg_read", ctypes.c_void_p), ("rip_id", ctypes.c_int),
                ("slow", ctypes.c_void_p)]


def attach_voter(recovery, vm: VM) -> None:
    """Every read of RAM by the VM's native instructions voted from now on."""
    on_read = recovery.read_voter(vm)
    lib = nc.library("voteread")
    if lib is None:
        vm.cpu.add_hook(Hook.READ, on_read, 0, vm.mem.size - 1)
        return
    vm.voter = _CVoter(recovery, vm, on_read, lib)


class _CVoter:
    def __init__(self, recovery, vm: VM, on_read, lib) -> None:
        self.recovery, self.vm, self.on_read = recovery, vm, on_read
        mem = vm.mem
        self.frames = (ctypes.c_uint32 * (3 * mem.frames))()
        code = [m.address for g in vm.groups for m in g.members]
        lo, hi = (min(code), max(code) + 1) if code else (0, 0)
        self.voters = (ctypes.c_uint8 * max(1, hi - lo))()
        for a, role in vm.role_at.items():
            if role == Role.NATIVE and lo <= a < hi:
                self.voters[a - lo] = 1
        self._slow = _SLOW(self._up)  # kept alive as long as the hook
        self.state = _State(memory=mem.address, size=mem.size, nframes=mem.frames,
                            frames=self.frames, code_lo=lo, code_hi=hi, voter=self.voters,
                            reg_read=hooks.C_REG_READ, rip_id=hooks.C_RIP,
                            slow=ctypes.cast(self._slow, ctypes.c_void_p))
        self._mapped: tuple | None = None
        self._hook_fn = native.function(lib, "on_read")
        self._differ = lib.copies_differ
        self._differ.argtypes = (ctypes.POINTER(_State), ctypes.c_uint64)
        self.hook: int | None = None  # the read hook's handle while it is installed
        self.installs = 0  # how often it was installed (a run with no error: never)
        # translations made while this hook was listed send every load the slow way
        # until dropped (a single step's hooks: the vCPU drops their code itself)
        self._slow_code = False
        vm.cpu.before_run.append(self.before_run)

    def before_run(self) -> None:
        """Before every start of the CPU: the tables, then the hook if the run may vote.
        A single step always has it, as before: its code goes the slow way anyway (the
        step's store hook), so the hook costs it little, and steps that stop inside
        groups would otherwise add and delete it over and over."""
        self.refresh()
        cpu = self.vm.cpu
        needed = cpu.stepping or self._needed()
        if needed and self.hook is None:
            self.hook = cpu.add_c_hook(Hook.READ, self._hook_fn, self.state)
            cpu.flush_translations()  # older code would not call it
            self.installs += 1
        elif not needed and self.hook is not None:
            cpu.remove_hook(self.hook)  # listed until this run ends: its code stays slow
            self.hook = None
        elif not needed and self._slow_code:
            cpu.flush_translations()
            self._slow_code = False
        if self.hook is not None:
            self._slow_code = True

    def _needed(self) -> bool:
        """Whether this run may give the voter something to do: an error pending in a
        voted frame, or a voted word whose copies differ (but the one in flight at a
        function's entry, which the entry's own instructions copy before anything
        reads it, as the voter lets them)."""
        frames = self.frames
        if any(f < self.state.nframes and frames[3 * f] for f in self.recovery.faults.frames()):
            return True
        return bool(self._differ(ctypes.byref(self.state), self._in_flight()))

    def _in_flight(self) -> int:
        """The machine address of the return address a call has pushed on the native
        stack only, if the CPU stands at a function's entry; else _NOTHING."""
        vm = self.vm
        if vm.cpu.reg("rip") not in vm.entry_at:
            return _NOTHING
        rsp = vm.cpu.reg("rsp")
        page = vm.pages.get(rsp & ~(PAGE - 1))
        if page is None or rsp & 7:
            return _NOTHING
        return page.frame * PAGE + (rsp & (PAGE - 1))

    def refresh(self) -> None:
        """Follow the pages (mapped, rebuilt on a new frame, undone) and the errors."""
        faults = self.recovery.faults
        self.state.pending = int(bool(faults.words or faults.dead))
        vm = self.vm
        mapped = vm.mappings()
        if mapped == self._mapped:
            return
        self._mapped = mapped
        ctypes.memset(self.frames, 0, ctypes.sizeof(self.frames))
        for frame, (va, _copy) in vm.rmap.items():
            page = vm.pages.get(va)
            if page is not None and page.kind == PageKind.RAM and len(page.mirrors) >= 2:
                self.frames[3 * frame:3 * frame + 3] = [page.frame, *page.mirrors[:2]]

    def _up(self, _uc, access: int, pa: int, size: int, value: int) -> None:
        self.on_read(access, pa, size, value)
        self.refresh()


__all__ = ["attach_voter"]
