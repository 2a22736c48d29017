"""One x86-64 vCPU: a Unicorn engine over the shared machine memory, in long mode
with real 4-level paging (the emulated MMU walks the tables and sets A/D bits).

This module knows nothing of mirrors or hypercalls: it runs, and says why it stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from unicorn import (
    UC_ARCH_X86,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_UNMAPPED,
    UC_HOOK_CODE,
    UC_HOOK_INTR,
    UC_HOOK_MEM_UNMAPPED,
    UC_MODE_64,
    UC_PROT_ALL,
    Uc,
    UcError,
)
from unicorn import x86_const as X

from app.abi import HYPERCALL_VECTOR
from app.machine.memory import PAGE, MachineMemory

GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
STATE_REGS = (*GPRS, "rip", "rflags", "fs_base", "gs_base", "mxcsr", "fpcw", "fpsw", "fptag",
              *(f"xmm{i}" for i in range(16)), *(f"st{i}" for i in range(8)))
_UC_REG = {name: getattr(X, f"UC_X86_REG_{name.upper()}") for name in (
    *GPRS, "rip", "rflags", "fs_base", "gs_base", "mxcsr", "fptag",
    *(f"xmm{i}" for i in range(16)), *(f"st{i}" for i in range(8)))}
_UC_REG["fpcw"] = X.UC_X86_REG_FPCW
_UC_REG["fpsw"] = X.UC_X86_REG_FPSW
_IDS = [_UC_REG[n] for n in STATE_REGS]
EFER = 0xC0000080
CR0_PE, CR0_WP, CR0_PG = 1, 1 << 16, 1 << 31
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 1 << 5, 1 << 9, 1 << 10
EFER_LME, EFER_LMA, EFER_NXE = 1 << 8, 1 << 10, 1 << 11
HYPERCALL = b"\xcd\x82"  # int $0x82, the vector of Xen's old PV hypercalls


@dataclass
class Stop:
    """Why the CPU stopped. kind: done | hypercall | fault | unmapped | error."""

    kind: str
    rip: int
    vector: int | None = None
    address: int | None = None
    message: str = ""


@dataclass(frozen=True)
class CpuState:
    """What a vCPU holds beyond machine memory: its registers and the frames taken
    out of its map."""

    regs: tuple[tuple[str, int], ...]
    holes: frozenset[int]


class VCpu:
    RIP = X.UC_X86_REG_RIP

    def __init__(self, mem: MachineMemory, cr3: int,
                 mmio: list[tuple[int, Callable, Callable]] = ()) -> None:
        self.mem = mem
        self.until = 0  # a mapped, never-executed address: see the kernel's __until
        self.traced = True  # every cached translation calls the code hooks
        self._stepping = False
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.holes: set[int] = set()  # frames taken out of the engine's map
        self._mmio = mmio
        self._map_all()
        self._fault: tuple[int, int, int] | None = None
        self._unmapped: tuple[int, int] | None = None
        self.uc.hook_add(UC_HOOK_INTR, self._on_intr)
        self.uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_CR3, cr3)
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4)
                     | CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT)
        efer = uc.reg_read(X.UC_X86_REG_MSR, EFER)
        uc.reg_write(X.UC_X86_REG_MSR, (EFER, efer | EFER_LME | EFER_LMA | EFER_NXE))
        uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | CR0_PE | CR0_WP | CR0_PG)

    def _map_all(self) -> None:
        self.uc.mem_map_ptr(0, self.mem.size, UC_PROT_ALL, self.mem.address)
        for pa, read_cb, write_cb in self._mmio:
            self.uc.mmio_map(pa, PAGE, read_cb, None, write_cb, None)

    # -- frames taken out of the map: every access to them stops the CPU first
    def unmap_frame(self, frame: int) -> None:
        if frame not in self.holes:
            self.uc.mem_unmap(frame * PAGE, PAGE)
            self.holes.add(frame)
            self.flush_tlb()

    def remap_frame(self, frame: int) -> None:
        if frame in self.holes:
            pa = frame * PAGE
            self.uc.mem_map_ptr(pa, PAGE, UC_PROT_ALL, self.mem.address + pa)
            self.holes.discard(frame)
            self.flush_tlb()

    def flush_tlb(self) -> None:
        # rewriting CR3 drops the emulated TLB, as on real hardware
        self.uc.reg_write(X.UC_X86_REG_CR3, self.uc.reg_read(X.UC_X86_REG_CR3))

    def flush_code(self, va: int, size: int) -> None:
        """Drop translations of code at guest-virtual [va, va + size). Unicorn translates
        the address as a fetch: it must be mapped and executable, or the page fault it
        raises is never delivered and turns the guest's next real fault into a double
        fault (a machine address is no substitute)."""
        self.uc.ctl_remove_cache(va, va + size)

    @property
    def cr3(self) -> int:
        return self.uc.reg_read(X.UC_X86_REG_CR3)

    # -- registers
    def reg(self, name: str) -> int:
        return self.uc.reg_read(_UC_REG[name])

    def set_reg(self, name: str, value: int) -> None:
        self.uc.reg_write(_UC_REG[name], value)

    def state(self) -> dict[str, int]:
        return dict(zip(STATE_REGS, self.uc.reg_read_batch(_IDS), strict=True))

    def restore(self, values: dict[str, int]) -> None:
        for name, v in values.items():
            if name == "rip":
                continue
            if name in ("fpsw", "fpcw", "fptag") or name.startswith("st"):
                with contextlib.suppress(UcError):  # x87 tags/status refuse odd values
                    self.uc.reg_write(_UC_REG[name], v)
                continue
            self.uc.reg_write(_UC_REG[name], v)
        if "rip" in values:
            self.uc.reg_write(_UC_REG["rip"], values["rip"])

    def save(self) -> CpuState:
        return CpuState(tuple(self.state().items()), frozenset(self.holes))

    def load(self, saved: CpuState) -> None:
        for f in self.holes - saved.holes:
            self.remap_frame(f)
        for f in saved.holes - self.holes:
            self.unmap_frame(f)
        self.restore(dict(saved.regs))
        self.flush_tlb()
        # translations of code are dropped too: the next run starts from a clean cache
        self.uc.ctl_flush_tb()
        self.traced = True

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
        if not self._stepping:
            self.traced = False
        rip = uc.reg_read(X.UC_X86_REG_RIP)
        self._start_rip = rip
        self._fault = None
        self._unmapped = None
        self._hypercall = False
        try:
            uc.emu_start(rip, until or self.until, 0, count)
        except UcError as e:
            now = uc.reg_read(X.UC_X86_REG_RIP)
            if self._fault is not None:
                return self._fault_stop()
            if e.errno == UC_ERR_INSN_INVALID:
                return Stop("fault", now, 6, None, "invalid instruction")
            if e.errno in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED):
                addr = self._unmapped[0] if self._unmapped else None
                return Stop("unmapped", now, None, addr, str(e))
            return Stop("error", now, None, None, str(e))
        if self._fault is not None:
            return self._fault_stop()
        if self._hypercall:
            return Stop("hypercall", uc.reg_read(X.UC_X86_REG_RIP))
        return Stop("done", uc.reg_read(X.UC_X86_REG_RIP))

    def step(self) -> Stop:
        """Execute exactly one instruction (one element of a rep string instruction).

        Unicorn's own instruction count swallows exceptions raised by the counted
        instruction, so a code hook stops the CPU before the second instruction.
        """
        seen = [0]

        def on_code(uc: Uc, address: int, size: int, _data) -> None:
            seen[0] += 1
            if seen[0] > 1:
                uc.emu_stop()

        h = self.uc.hook_add(UC_HOOK_CODE, on_code)
        self._stepping = True
        if not self.traced:
            # code translated before the hook existed would run without calling it
            self.uc.ctl_flush_tb()
            self.traced = True
        try:
            return self.run()
        finally:
            self._stepping = False
            self.uc.hook_del(h)

    def add_code_hook(self, callback, address: int) -> int:
        """A code hook on one address, effective at once (cached code is retranslated)."""
        h = self.uc.hook_add(UC_HOOK_CODE, callback, begin=address, end=address)
        self.uc.ctl_flush_tb()
        return h

    def _fault_stop(self) -> Stop:
        vector, cr2, _ = self._fault
        rip = self.uc.reg_read(X.UC_X86_REG_RIP)
        names = {0: "divide error", 6: "invalid opcode", 13: "general protection fault",
                 14: "page fault", 17: "alignment check", 8: "double fault", 3: "breakpoint",
                 1: "debug"}
        msg = names.get(vector, f"exception {vector}")
        return Stop("fault", rip, vector, cr2 if vector == 14 else None, msg)

    def at_hypercall(self, rip: int) -> bool:
        return self._read_code(rip, 2) == HYPERCALL

    def _read_code(self, va: int, size: int) -> bytes | None:
        from app.machine.paging import translate
        pa = translate(self.mem, self.cr3, va)
        if pa is None:
            return None
        return self.mem.read(pa, size)
