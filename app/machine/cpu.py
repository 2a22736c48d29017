"""One x86-64 vCPU: a Unicorn engine over the shared machine memory, in long mode
with real 4-level paging (the emulated MMU walks the tables and sets A/D bits).

This module knows nothing of mirrors or hypercalls: it runs, and says why it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable

from unicorn import (
    UC_ARCH_X86,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_PROT,
    UC_ERR_WRITE_UNMAPPED,
    UC_HOOK_INTR,
    UC_HOOK_MEM_UNMAPPED,
    UC_MODE_64,
    UC_PROT_ALL,
    UC_PROT_WRITE,
    Uc,
    UcError,
)
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from app.abi import HYPERCALL_VECTOR
from app.machine import registers as R
from app.machine.cpustate import GPRS, REG_WIDTH, STATE_REGS, CpuState
from app.machine.hooks import Hook, HookTable
from app.machine.memory import PAGE, MachineMemory
from app.machine.registers import ENGINE_ID, LAYOUT, PLAN, SLOT, STATE_IDS, WIDE
from app.machine.stops import VECTOR_NAMES, Stop, StopKind, StoreListener

__all__ = ["GPRS", "REG_WIDTH", "STATE_REGS", "CpuState", "Hook", "Stop", "StopKind", "VCpu"]

HYPERCALL = b"\xcd\x82"  # int $0x82, the vector of Xen's old PV hypercalls
# The translation cache's size. QEMU's default (1 GiB) is only given back when it is
# full: code translated again and again (a breakpoint, a stop at an exact instruction)
# would take the process's memory up to it, per vCPU.
TRANSLATION_CACHE = 16 << 20


class VCpu:
    """One vCPU. Everything above the machine hooks it through add_hook, add_c_hook
    and add_code_hook (app/machine/hooks.py says how a hook is called)."""

    # what save() covers: the registers (in the engine, read by state()) and these;
    # the rest is fixed at creation, or the hooks and bookkeeping of a run or a step
    STATE = ("holes",)
    DERIVED = ("mem", "until", "uc", "_ids", "_one", "_buffer", "_ptrs", "_mmio",
               "_context", "before_run", "store_listener", "_hooks", "_hole_hooks",
               "watched", "steps", "_stepping", "_step_hooks", "_seen", "_stored", "_fault",
               "_unmapped", "_hypercall", "_start_rip")

    def __init__(self, mem: MachineMemory, cr3: int,
                 mmio: list[tuple[int, Callable, Callable]] = ()) -> None:
        self.mem = mem
        self.until = 0  # a mapped, never-executed address: see the kernel's __until
        self.steps = 0  # single steps taken: the slow path, counted so that it shows
        self._stepping = False
        # the code and store hooks of single steps: present while translations call them
        self._step_hooks: tuple[int, int] | None = None
        self._seen = self._stored = 0  # instructions and stores the step met
        # told of every store a single step makes, before it, and of those refused
        self.store_listener: StoreListener | None = None
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self._hooks = HookTable(self.uc)
        self.before_run: list = []  # called before every start of the CPU
        # the batch read of every register, its buffers made once
        self._ids = (ctypes.c_int * len(STATE_IDS))(*STATE_IDS)
        self._one = ctypes.c_uint64()
        self._buffer = (ctypes.c_ubyte * (SLOT * len(STATE_IDS)))()
        base = ctypes.addressof(self._buffer)
        self._ptrs = (ctypes.c_void_p * len(STATE_IDS))(*(base + i * SLOT
                                                          for i in range(len(STATE_IDS))))
        self.uc.ctl_set_tcg_buffer_size(TRANSLATION_CACHE)  # before anything translates
        self.holes: set[int] = set()  # frames taken out of the map
        self.watched: set[int] = set()  # frames mapped without write permission
        self._mmio = mmio
        self._map_all()
        self._fault: tuple[int, int, int] | None = None
        self._unmapped: tuple[int, int] | None = None
        self.uc.hook_add(UC_HOOK_INTR, self._on_intr)
        # Unmapped-access hooks cover only what is not RAM (above it; each frame out of
        # the map has its own while it is out): while any memory hook covers a frame,
        # Unicorn keeps TLB_NOTDIRTY on it and every store there calls C (cputlb.c).
        self.uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped, begin=mem.size,
                         end=(1 << 64) - 1)
        self._hole_hooks: dict[int, int] = {}  # frame -> its unmapped-access hook
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_CR3, cr3)
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4)
                     | R.CR4_PAE | R.CR4_OSFXSR | R.CR4_OSXMMEXCPT)
        efer = uc.reg_read(X.UC_X86_REG_MSR, R.EFER)
        uc.reg_write(X.UC_X86_REG_MSR, (R.EFER, efer | R.EFER_LME | R.EFER_LMA | R.EFER_NXE))
        uc.reg_write(X.UC_X86_REG_CR0,
                     uc.reg_read(X.UC_X86_REG_CR0) | R.CR0_PE | R.CR0_WP | R.CR0_PG)
        self._context = uc.context_save()

    def _map_all(self) -> None:
        self.uc.mem_map_ptr(0, self.mem.size, UC_PROT_ALL, self.mem.address)
        for pa, read_cb, write_cb in self._mmio:
            self.uc.mmio_map(pa, PAGE, read_cb, None, write_cb, None)

    @contextlib.contextmanager
    def _no_fault_left(self):
        """Around every call that drops translations (unmapping or protecting memory,
        ctl_remove_cache, deleting a code hook): Unicorn finds the code by translating
        addresses as fetches (machine addresses too, as if virtual), and a page fault
        raised there is never delivered but stays recorded as the exception in flight,
        turning the guest's next real fault into a double fault. The CPU state from
        before the call is put back."""
        self.uc.context_update(self._context)
        try:
            yield
        finally:
            self.uc.context_restore(self._context)

    # -- frames taken out of the map: every access to them stops the CPU first
    def unmap_frame(self, frame: int) -> None:
        if frame not in self.holes:
            with self._no_fault_left():
                self.uc.mem_unmap(frame * PAGE, PAGE)
            self.holes.add(frame)
            pa = frame * PAGE
            self._hole_hooks[frame] = self.uc.hook_add(
                UC_HOOK_MEM_UNMAPPED, self._on_unmapped, begin=pa, end=pa + PAGE - 1)
            self.flush_tlb()

    def remap_frame(self, frame: int) -> None:
        if frame in self.holes:
            pa = frame * PAGE
            with self._no_fault_left():
                self.uc.mem_map_ptr(pa, PAGE, self._perms(frame), self.mem.address + pa)
            self.holes.discard(frame)
            self.uc.hook_del(self._hole_hooks.pop(frame))
            self.flush_tlb()

    # -- frames whose stores stop the CPU before they retire (a UC_HOOK_MEM_WRITE_PROT
    # hook, added by the caller, decides which pass; loads run at full speed)
    def watch_frames(self, frames: set[int]) -> None:
        """Map exactly `frames` without write permission (the others with all)."""
        change = self.watched ^ frames
        self.watched = set(frames)
        for frame in change - self.holes:  # a hole is mapped back with its permissions
            with self._no_fault_left():
                self.uc.mem_protect(frame * PAGE, PAGE, self._perms(frame))
        if change:
            self.flush_tlb()

    def _perms(self, frame: int) -> int:
        return UC_PROT_ALL & ~UC_PROT_WRITE if frame in self.watched else UC_PROT_ALL

    def flush_tlb(self) -> None:
        # rewriting CR3 drops the emulated TLB, as on real hardware
        self.uc.reg_write(X.UC_X86_REG_CR3, self.uc.reg_read(X.UC_X86_REG_CR3))

    def flush_translations(self) -> None:
        """Drop every translation: whether a load or store calls memory hooks is decided
        when it is translated (docs/design.md, "Unicorn traps found here")."""
        self.uc.ctl_flush_tb()

    def flush_code(self, va: int, size: int) -> None:
        """Drop translations of code at guest-virtual [va, va + size). Unicorn translates
        the address as a fetch: it must be mapped and executable (a machine address is
        no substitute), or nothing is dropped."""
        with self._no_fault_left():
            self.uc.ctl_remove_cache(va, va + size)

    @property
    def cr3(self) -> int:
        return self.uc.reg_read(X.UC_X86_REG_CR3)

    # -- registers
    def reg(self, name: str) -> int:
        if name in WIDE:
            return self.uc.reg_read(ENGINE_ID[name])
        # 64 bits or fewer: straight into one buffer (rip is read around every step)
        self._one.value = 0
        status = uclib.uc_reg_read(self.uc._uch, ENGINE_ID[name], ctypes.byref(self._one))
        if status != 0:
            raise UcError(status)
        return self._one.value

    def set_reg(self, name: str, value: int) -> None:
        self.uc.reg_write(ENGINE_ID[name], value)

    def state(self) -> dict[str, int]:
        """Every register of STATE_REGS, in one call into the engine: every step and
        turn reads them twice, and the binding's own batch read picks a ctypes class
        per register each time."""
        status = uclib.uc_reg_read_batch(self.uc._uch, self._ids, self._ptrs, len(STATE_IDS))
        if status != 0:
            raise UcError(status)
        parts = LAYOUT.unpack_from(self._buffer)
        return {name: parts[lo] if hi is None else parts[lo] | parts[hi] << 64
                for name, lo, hi in PLAN}

    def restore(self, values: dict[str, int]) -> None:
        for name, v in values.items():
            if name == "rip":
                continue
            if name in ("fpsw", "fpcw", "fptag") or name.startswith("st"):
                with contextlib.suppress(UcError):  # x87 tags/status refuse odd values
                    self.uc.reg_write(ENGINE_ID[name], v)
                continue
            self.uc.reg_write(ENGINE_ID[name], v)
        if "rip" in values:
            self.uc.reg_write(ENGINE_ID["rip"], values["rip"])

    def save(self) -> CpuState:
        return CpuState(tuple(self.state().values()), frozenset(self.holes))

    def load(self, saved: CpuState) -> None:
        self.set_holes(saved.holes)
        self.rewind(saved.values())

    def set_holes(self, frames: frozenset[int]) -> None:
        """Exactly `frames` out of the map (a saved state's holes)."""
        for f in self.holes - frames:
            self.remap_frame(f)
        for f in frames - self.holes:
            self.unmap_frame(f)

    def rewind(self, values: dict[str, int]) -> None:
        """Registers set back (after memory was), the TLB and the translations of
        code dropped: the next run starts from a clean cache."""
        self.restore(values)
        self.flush_tlb()
        self.uc.ctl_flush_tb()

    # -- running
    def _on_intr(self, uc: Uc, vector: int, _data) -> None:
        # `int $0x82` is the guest's hypercall: a trap, so RIP is already past it
        if vector == HYPERCALL_VECTOR and self._fault is None:
            self._hypercall = True
            uc.emu_stop()
            return
        if self._fault is None:
            self._fault = (vector, uc.reg_read(X.UC_X86_REG_CR2), self._start_rip)
        uc.emu_stop()

    def _on_unmapped(self, uc: Uc, access: int, address: int, size: int, value: int,
                     _data) -> bool:
        self._unmapped = (address, size)
        return False

    def run(self, count: int = 0, until: int = 0) -> Stop:
        """Run from RIP for `count` instructions (0: no limit) or until RIP == until."""
        uc = self.uc
        if not self._stepping and self._step_hooks is not None:
            # a free run: deleting the hooks drops every translation that calls them
            for h in self._step_hooks:
                self.remove_hook(h)
            self._step_hooks = None
            self._forget_deleted_hooks()
        for prepare in self.before_run:  # the hooks' tables follow the machine
            prepare()
        rip = uc.reg_read(X.UC_X86_REG_RIP)
        self._start_rip = rip
        self._fault = None
        self._unmapped = None
        self._hypercall = False
        try:
            uc.emu_start(rip, until or self.until, 0, count)
        except UcError as e:
            self._hooks.take_error()  # as the binding does: the engine's error wins
            return self._error_stop(e)
        error = self._hooks.take_error()
        if error is not None:
            raise error
        if self._fault is not None:
            return self._fault_stop()
        if self._hypercall:
            return Stop(StopKind.HYPERCALL, uc.reg_read(X.UC_X86_REG_RIP))
        return Stop(StopKind.DONE, uc.reg_read(X.UC_X86_REG_RIP))

    def _forget_deleted_hooks(self) -> None:
        """A deleted hook stays listed until an emulation ends, and code translated
        meanwhile takes memory hooks' slow path: an empty emulation ends it first."""
        rip = self.uc.reg_read(X.UC_X86_REG_RIP)
        self.uc.emu_start(rip, rip, 0, 0)
        self.uc.ctl_flush_tb()
        self.flush_tlb()

    def _error_stop(self, e: UcError) -> Stop:
        now = self.uc.reg_read(X.UC_X86_REG_RIP)
        if self._fault is not None:
            return self._fault_stop()
        if e.errno == UC_ERR_INSN_INVALID:
            return Stop(StopKind.FAULT, now, 6, None, "invalid instruction")
        if e.errno in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED):
            addr, size = self._unmapped if self._unmapped else (None, 1)
            return Stop(StopKind.UNMAPPED, now, None, addr, str(e), size,
                        fetch=e.errno == UC_ERR_FETCH_UNMAPPED,
                        write=e.errno == UC_ERR_WRITE_UNMAPPED)
        if e.errno == UC_ERR_WRITE_PROT:
            return Stop(StopKind.WATCH, now, None, None, "store into a watched frame")
        return Stop(StopKind.ERROR, now, None, None, str(e))

    def step(self) -> Stop:
        """Execute exactly one instruction (one element of a rep string instruction).

        Unicorn's own instruction count swallows exceptions raised by the counted
        instruction, so a code hook stops the CPU before the second instruction. The
        hook stays while steps follow one another: added and deleted for each step, it
        would have the step's block translated anew every time, and QEMU gives the
        space of dropped translations back only when its cache is full. A store hook
        comes with it, whether anyone listens or not: a translation made without a
        store hook never calls one added later."""
        if self._step_hooks is None:
            self._step_hooks = (self.add_hook(Hook.CODE, self._on_step),
                                self.add_hook(Hook.WRITE, self._on_store))
            # code translated before the hooks existed would run without calling them
            self.uc.ctl_flush_tb()
        self.steps += 1
        self._seen = self._stored = 0
        self._stepping = True
        try:
            stop = self.run()
        finally:
            self._stepping = False
        if stop.kind == StopKind.UNMAPPED and stop.fetch and self._seen == 1:
            # it ran; the next fetch found its frame out of the map (a lost DIMM's code
            # page): that fetch is the next step's, as a free run meets it
            return Stop(StopKind.DONE, stop.rip, retired=True)
        # it ran if the fault was the next one's fetch; else a fault, a frame out of the
        # map or a watch refused it, and its stores with it
        stop.retired = stop.kind == StopKind.DONE or stop.fetch and self._seen == 1
        if not stop.retired and self._stored and self.store_listener is not None:
            self.store_listener.refused(self._stored)
        return stop

    @property
    def stepping(self) -> bool:
        """Whether the run being prepared (see before_run) is a single step."""
        return self._stepping

    def _on_step(self, address: int, size: int) -> None:
        self._seen += 1
        if self._seen > 1:
            self._hooks.stop()

    def _on_store(self, access: int, pa: int, size: int, value: int) -> None:
        self._stored += 1
        if self.store_listener is not None:
            self.store_listener.stored(pa, size, value)

    # -- hooks (app/machine/hooks.py: how each kind is called)
    def add_hook(self, kind: Hook, callback: Callable, begin: int = 1, end: int = 0) -> int:
        """A Python hook on [begin, end] (everywhere by default). Code translated before
        it was added does not call it: see add_code_hook."""
        return self._hooks.add(kind, callback, begin, end)

    def add_code_hook(self, callback: Callable, address: int) -> int:
        """A code hook on one address, effective at once (cached code is retranslated)."""
        h = self.add_hook(Hook.CODE, callback, address, address)
        self.uc.ctl_flush_tb()
        return h

    def stop_at(self, address: int) -> int:
        """A hook that stops the CPU in front of `address`; the caller drops the
        translations that must call it (flush_code) and removes it."""
        return self.add_hook(Hook.CODE, lambda _a, _n: self._hooks.stop(), address, address)

    def add_c_hook(self, kind: Hook, function: int, data: ctypes.Structure) -> int:
        """A hook whose callback is C (its address), called with `data` (which the
        caller keeps alive), everywhere."""
        return self._hooks.add_c(kind, function, data)

    def remove_hook(self, handle: int) -> None:
        """Delete a hook (a code or block hook's translations are dropped with it)."""
        with self._no_fault_left():
            self._hooks.remove(handle)

    def stop(self) -> None:
        """Stop the CPU from inside a hook: a code or block hook's stop keeps its
        instruction or block from running, a memory hook's lets the block finish."""
        self._hooks.stop()

    def _fault_stop(self) -> Stop:
        vector, cr2, _ = self._fault
        rip = self.uc.reg_read(X.UC_X86_REG_RIP)
        msg = VECTOR_NAMES.get(vector, f"exception {vector}")
        return Stop(StopKind.FAULT, rip, vector, cr2 if vector == 14 else None, msg,
                    fetch=vector == 14 and cr2 == rip)

    def at_hypercall(self, rip: int) -> bool:
        return self._read_code(rip, 2) == HYPERCALL

    def _read_code(self, va: int, size: int) -> bytes | None:
        from app.machine.paging import translate
        pa = translate(self.mem, self.cr3, va)
        if pa is None:
            return None
        return self.mem.read(pa, size)
