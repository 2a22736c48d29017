"""The hypervisor: owns machine memory, creates VMs, runs them, answers hypercalls,
injects memory errors and recovers from machine checks.

Everything it does that a student should see is appended to `log` as a note (a dict
with a `kind`); the session turns notes into step events.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from app.abi import (
    EPERM,
    HC_CONSOLE,
    HC_EXIT,
    HC_MMU_UPDATE,
    HC_PTE_READ,
    HYPERCALLS,
)
from app.contracts import NoteKind, OwnerKind, Status
from app.hypervisor import faults as F
from app.hypervisor.answers import Answer
from app.hypervisor.change import Change, RunChange, Undo, undo
from app.hypervisor.injection import Injection
from app.hypervisor.recovery import Recovery
from app.hypervisor.vm import VM, Patrol, VmState
from app.hypervisor.vmstate import PageKind
from app.hypervisor.voting import attach_voter
from app.machine.memory import HYPERVISOR, PAGE, MachineMemory, MemoryState
from app.machine.paging import ADDR_MASK, NX, PS, RW, canonical, frame_of
from app.rewriter.build import Build

HYPERVISOR_FRAMES = 16
# The patrol scrub of a mirrored VM runs every SCRUB_INTERVAL native instructions (at
# the first group boundary from there: inside a group the copies differ by design), in
# run and step mode alike, and once more at exit. It corrects pending correctable
# errors, meets uncorrectable ones, and compares every page with its copies.
SCRUB_INTERVAL = 1_000_000


@dataclass(frozen=True)
class HypervisorState:
    """The whole machine at one moment: memory, pending errors, the log, every VM."""

    memory: MemoryState
    faults: F.Faults
    log: tuple[dict, ...]
    vms: tuple[VmState, ...]

    def to_json(self) -> dict:
        """All but the memory's bytes, as a checkpoint's head holds it."""
        return {"owners": self.memory.owner_rows(), "faults": self.faults.to_json(),
                "log": list(self.log), "vms": [v.to_json() for v in self.vms]}

    @classmethod
    def from_json(cls, head: dict, data: bytes) -> HypervisorState:
        return cls(MemoryState.from_rows(data, head["owners"]),
                   F.Faults.from_json(head["faults"]), tuple(head["log"]),
                   tuple(VmState.from_json(v) for v in head["vms"]))


class Hypervisor:
    """The VMs on one machine, their hypercalls and page tables; recovery and
    injection are services of their own, handed what they need."""

    # what save() covers (memory, faults and the VMs save themselves); the services
    # hold nothing of their own, only what they were handed
    STATE = ("mem", "faults", "log", "vms")
    DERIVED = ("recovery", "injection")

    def __init__(self, memory_size: int = 8 << 20, dimms: int = 4) -> None:
        self.mem = MachineMemory(memory_size, dimms)
        for f in range(HYPERVISOR_FRAMES):
            self.mem.owners[f] = HYPERVISOR
        self.vms: list[VM] = []
        self.log: list[dict] = []
        self.faults = F.Faults()
        self.recovery = Recovery(self.mem, self.faults, self.vms, self.note)
        self.injection = Injection(self.mem, self.faults, self.vms, self.note,
                                   self.recovery.code_changed)

    # -- the services' faces
    def inject(self, kind: str, **target) -> dict:
        return self.injection.inject(kind, **target)

    def on_unmapped(self, vm: VM, pa: int | None, size: int) -> Answer:
        return self.recovery.on_unmapped(vm, pa, size)

    def scrub(self, vm: VM, patrol: bool = False, **kw) -> list:
        return self.recovery.scrub(vm, patrol, **kw)

    def mirror_consistent(self, vm: VM) -> bool | None:
        return self.recovery.mirror_consistent(vm)

    def code_changed(self, pa: int, size: int) -> None:
        self.recovery.code_changed(pa, size)

    def note(self, kind: str, vm: VM | None, **data) -> None:
        self.log.append({"kind": kind, "vm": vm.id if vm else None, **data})

    # -- the whole state (fork, checkpoints), composed of its parts' own: loaded into
    # a hypervisor that created the same VMs from the same build
    def save(self) -> HypervisorState:
        return HypervisorState(self.mem.save(), self.faults.save(), tuple(self.log),
                               tuple(vm.save() for vm in self.vms))

    def load(self, state: HypervisorState) -> None:
        if len(state.vms) != len(self.vms):
            raise ValueError("the saved state has a different number of VMs")
        self.mem.load(state.memory)
        self.faults.load(state.faults)
        self.log[:] = state.log
        for vm, saved in zip(self.vms, state.vms, strict=True):
            vm.load(saved)

    # -- a step's change, as a reverse diff (exact undo)
    def track(self, vm: VM, trace_writes: bool = True) -> Change:
        """Record what `vm`'s next step changes (see change.py), with the stores a
        single step makes if `trace_writes`."""
        return Change(self, vm, trace_writes)

    def undo(self, record: Undo) -> None:
        """Put everything back as before the step `record` was made of."""
        undo(self, record)

    def track_run(self) -> RunChange:
        """The first images of the frames a run in turns changes (see RunChange)."""
        return RunChange(self.mem)

    # -- VMs
    def create_vm(self, build: Build, mode: str, name: str = "",
                  mirror_devices: bool = False) -> VM:
        rw = build.for_mode(mode)
        vid = len(self.vms) + 1
        vm = VM(vid, name or f"VM {vid}", self.mem, mode, build.rewritten.offset, rw.image,
                rw.groups, note=self.note, failed_dimms=lambda: self.faults.failed_dimms,
                holes=self.faults.frames(), first_patrol=SCRUB_INTERVAL,
                mirror_devices=mirror_devices,
                # NMR-3: every read of RAM is voted before the load sees it
                voter=lambda v: attach_voter(self.recovery, v))
        self.vms.append(vm)
        self.note(NoteKind.VM_CREATED, vm, mode=mode, offset=vm.offset, name=vm.name)
        return vm

    # -- guest memory as the hypervisor reads it (through the guest's own tables)
    def read_guest(self, vm: VM, va: int, size: int) -> bytes | None:
        out = bytearray()
        while size > 0:
            page = vm.pages.get(va & ~0xFFF)
            if page is None or page.kind == PageKind.DEVICE:
                return None
            n = min(size, PAGE - (va & 0xFFF))
            out += self.mem.read(page.frame * PAGE + (va & 0xFFF), n)
            va, size = va + n, size - n
        return bytes(out)

    # -- hypercalls
    def hypercall(self, vm: VM) -> bool:
        """Serve the hypercall just trapped (RIP is past it); returns whether the VM runs on."""
        cpu = vm.cpu
        nr = cpu.reg("rax")
        args = [cpu.reg(r) for r in ("rdi", "rsi", "rdx", "r10")]
        name = HYPERCALLS.get(nr, f"unknown({nr})")
        result = 0
        if nr == HC_MMU_UPDATE:
            result = self._mmu_update(vm, args[0], args[1])
        elif nr == HC_CONSOLE:
            data = self.read_guest(vm, args[0], min(args[1], 4096)) or b""
            vm.console.write(data)
            self.note(NoteKind.CONSOLE, vm, text=data.decode("latin-1"), via="hypercall")
            result = len(data)
        elif nr == HC_EXIT:
            code = args[0] & 0xFFFF_FFFF
            vm.exit_code = code - (1 << 32) if code & 0x8000_0000 else code
            vm.status = Status.EXITED
        elif nr == HC_PTE_READ:
            va = args[0] & 0xFFFF_FFFF_FFFF_FFFF
            result = 0 if vm.in_mirror_range(va) else vm.read_pte(va)
        else:
            result = EPERM
        self.note(NoteKind.HYPERCALL, vm, name=name, number=nr, args=args[:2], result=result)
        cpu.set_reg("rax", result & 0xFFFF_FFFF_FFFF_FFFF)
        if vm.status == Status.EXITED:
            self.scrub(vm)
            self.note(NoteKind.EXIT, vm, code=vm.exit_code)
        return vm.status == Status.RUNNING

    def _mmu_update(self, vm: VM, reqs: int, count: int) -> int:
        if count > 4096:
            self.note(NoteKind.REFUSED, vm, reason=f"mmu_update of {count} entries is too many")
            return EPERM
        raw = self.read_guest(vm, reqs, 16 * count)
        if raw is None:
            self.note(NoteKind.REFUSED, vm, reason="mmu_update request list is not mapped")
            return EPERM
        done = 0
        for i in range(count):
            va, pte = struct.unpack_from("<QQ", raw, 16 * i)
            reason = self._validate(vm, va, pte)
            if reason:
                self.note(NoteKind.REFUSED, vm, va=va, pte=pte, reason=reason)
                return EPERM
            if pte == 0:
                vm.unmap_page(va)
            else:
                vm.map_page(va, frame_of(pte), pte & ~ADDR_MASK)
            done += 1
        vm.cpu.flush_tlb()
        self.note(NoteKind.MMU_UPDATE, vm, count=done)
        return done

    def _validate(self, vm: VM, va: int, pte: int) -> str | None:
        if not canonical(va) or va & 0xFFF:
            return f"va {va:#x} is not a canonical page address"
        if vm.in_mirror_range(va):
            return (f"address conflict: va {va:#x} lies in the mirror range "
                    f"[{vm.offset:#x}, {(vm.copies + 1) * vm.offset:#x})")
        old = vm.pages.get(va)
        if old is not None and old.kind != PageKind.RAM:
            return f"va {va:#x} belongs to the hypervisor's fixed layout"
        if pte == 0:
            return None
        frame = frame_of(pte)
        if pte & PS:
            return "large pages are not supported"
        if frame >= self.mem.frames:
            return f"frame {frame:#x} is not machine memory"
        owner = self.mem.owners[frame]
        if owner.kind == OwnerKind.PAGETABLE and pte & RW:
            return f"frame {frame:#x} is a page table: it may never be mapped writable"
        if owner.kind == OwnerKind.MIRROR or owner.kind == OwnerKind.SINK:
            return f"frame {frame:#x} belongs to the mirror pool, not to the guest"
        if owner.kind not in (OwnerKind.NATIVE, OwnerKind.PAGETABLE) or owner.vm != vm.id:
            whose = f"VM {owner.vm}" if owner.vm else owner.kind
            return f"frame {frame:#x} is not this VM's (it belongs to {whose})"
        # W^X on the guest's own frames: code the guest wrote itself would run without
        # ever passing through the rewriter, so its stores would not be mirrored
        code = frame in vm.code_frames
        if code and pte & RW:
            return f"frame {frame:#x} holds the program's code: it is never mapped writable"
        if not code and not pte & NX:
            return (f"frame {frame:#x} holds data: mapped executable, code written at run "
                    "time would run unrewritten, its stores unmirrored")
        mapped = vm.rmap.get(frame)
        if mapped is not None and mapped[0] != va:
            return f"frame {frame:#x} is already mapped at {mapped[0]:#x} (no aliasing)"
        return None

    # -- the patrol scrub
    def patrol(self, vm: VM) -> None:
        """Scrub if a patrol is due and the CPU stands at a group boundary. At a
        function's entry the return address its caller pushed is in flight (native
        only until the entry's mirror instructions copy it): the scrub leaves that
        word out rather than report, or vote away, a store that is simply not done."""
        due = vm.patrol.next
        n = vm.counters.native_instructions
        if not vm.copies or n < due or vm.status != Status.RUNNING:
            return
        rip = vm.cpu.reg("rip")
        if rip not in vm.group_at:
            return
        vm.patrol = Patrol((n // SCRUB_INTERVAL + 1) * SCRUB_INTERVAL, vm.patrol.seen)
        in_flight = [(vm.cpu.reg("rsp"), 8)] if rip in vm.entry_at else []
        self.scrub(vm, patrol=True, in_flight=in_flight)

    def patrol_due(self, vm: VM) -> int | None:
        """The native instruction count from which the next patrol is due (a run must
        not pass it freely)."""
        return vm.patrol.next if vm.copies else None
