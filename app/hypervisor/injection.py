"""Injecting memory errors: where (a VM's virtual address, a frame, a DIMM) and what."""

from __future__ import annotations

from app.asm.layout import BASES
from app.contracts import ErrorKind, NoteKind, OwnerKind
from app.hypervisor import faults as F
from app.hypervisor.vm import VM
from app.hypervisor.vmstate import PageKind
from app.machine.memory import PAGE, Owner


class Injection:
    """Injecting errors, as a service: handed the machine's memory, its pending faults,
    the VMs, the log's `note`, and `code_changed` (recovery's: a silent flip in code
    must reach the engine's translations)."""

    def __init__(self, mem, faults: F.Faults, vms: list[VM], note, code_changed) -> None:
        self.mem, self.faults, self.vms, self.note = mem, faults, vms, note
        self.code_changed = code_changed

    def inject(self, kind: str, vm: VM | None = None, va: int | None = None,
               frame: int | None = None, bit: int = 0, dimm: int | None = None) -> dict:
        """Inject a memory error; returns the note describing it. The error hits the
        8-byte word that holds the addressed byte; `bit` counts from that byte's bit 0
        (an uncorrectable error flips it and the next one)."""
        if kind not in F.KINDS:
            raise ValueError(f"unknown error kind '{kind}' (one of {', '.join(F.KINDS)})")
        if kind == ErrorKind.DIMM:
            return self._fail_dimm(vm, va, frame, dimm)
        pa = self._target_pa(vm, va, frame)
        owner = self.mem.owners[pa // PAGE]
        if owner.kind in (OwnerKind.FREE, OwnerKind.HYPERVISOR, OwnerKind.PAGETABLE,
                          OwnerKind.POISONED):
            raise ValueError(f"frame {pa // PAGE:#x} is {owner.kind}: inject into a VM's "
                             "native or mirror frame")
        bit = ((pa & 7) * 8 + bit) % 64
        pa &= ~7
        bits = [bit] if kind in (ErrorKind.CE, ErrorKind.SILENT) else [bit, (bit + 1) % 64]
        old, new = F.flip(self.mem, pa, bits)
        if kind in (ErrorKind.CE, ErrorKind.UE):
            self.faults.words[pa] = (kind, bit)
            for v in self.vms:
                v.cpu.unmap_frame(pa // PAGE)
        else:
            self.code_changed(pa, 8)
        note = self._describe(kind, pa, owner, old, new, bit)
        self.note(NoteKind.INJECT, self._vm(owner.vm), **note)
        return note

    def _describe(self, kind: str, pa: int, owner: Owner, old: int, new: int,
                  bit: int) -> dict:
        vm = self._vm(owner.vm)
        where = vm.va_of(pa) if vm else None
        return {"error": kind, "pa": pa, "frame": pa // PAGE, "bit": bit,
                "va": where[0] & ~7 if where else None, "copy": owner.copy,
                "old": f"{old:#018x}", "new": f"{new:#018x}", "explain": F.EXPLAIN[kind]}

    def _vm(self, vid: int | None) -> VM | None:
        return next((v for v in self.vms if v.id == vid), None)

    def _target_pa(self, vm: VM | None, va: int | None, frame: int | None) -> int:
        if frame is not None:
            if not 0 <= frame < self.mem.frames:
                raise ValueError(f"frame {frame:#x} is outside machine memory")
            return frame * PAGE + (va & 0xFFF if va is not None else 0)
        if vm is None or va is None:
            raise ValueError("an injection needs a VM and a virtual address, or a frame")
        for k in range(vm.copies + 1):
            base = va - k * vm.offset
            page = vm.pages.get(base & ~0xFFF)
            if page is not None and (k == 0 or k <= len(page.mirrors)):
                if page.kind != PageKind.RAM:
                    raise ValueError(f"va {va:#x} is {page.kind} memory: errors are modelled "
                                     "in RAM pages only")
                frame = page.frame if k == 0 else page.mirrors[k - 1]
                return frame * PAGE + (va & 0xFFF)
        # the guest kernel maps the program by hypercall in its first instructions
        why = ("yet: the guest kernel has not mapped the program" if BASES["text"] not in
               vm.pages else "(not part of the program's memory)")
        raise ValueError(f"va {va:#x} is not mapped in VM '{vm.name}' {why}")

    def _fail_dimm(self, vm, va, frame, dimm) -> dict:
        if dimm is None:
            pa = self._target_pa(vm, va, frame)
            dimm = self.mem.dimm_of(pa // PAGE).index
        if not 0 <= dimm < len(self.mem.dimms):
            raise ValueError(f"there is no DIMM {dimm}")
        if dimm == 0:
            raise ValueError("DIMM 0 holds the hypervisor and the page tables; its loss "
                             "stops the whole machine (kMemvisor does not mirror it)")
        self.faults.failed_dimms.add(dimm)
        lost = []
        for f in range(self.mem.dimms[dimm].first_frame,
                       self.mem.dimms[dimm].first_frame + self.mem.dimms[dimm].frames):
            if self.mem.owners[f].kind in (OwnerKind.NATIVE, OwnerKind.MIRROR, OwnerKind.SINK):
                self.faults.dead.add(f)
                lost.append(f)
                for v in self.vms:
                    v.cpu.unmap_frame(f)
        note = {"error": ErrorKind.DIMM, "dimm": dimm, "frames": lost,
                "explain": F.EXPLAIN[ErrorKind.DIMM]}
        self.note(NoteKind.INJECT, None, **note)
        return note

