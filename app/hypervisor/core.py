"""The hypervisor: owns machine memory, creates VMs, runs them, answers hypercalls,
injects memory errors and recovers from machine checks.

Everything it does that a student should see is appended to `log` as a note (a dict
with a `kind`); the session turns notes into step events.
"""

from __future__ import annotations

import struct

from unicorn import UC_HOOK_MEM_READ

from app.abi import (
    EPERM,
    HC_CONSOLE,
    HC_EXIT,
    HC_MMU_UPDATE,
    HC_PTE_READ,
    HYPERCALLS,
    UART_PA,
    kernel_symbols,
)
from app.hypervisor import faults as F
from app.hypervisor.counting import Counting
from app.hypervisor.injection import Injection
from app.hypervisor.loader import load
from app.hypervisor.vm import NATIVE_DIMM, VM
from app.machine.cpu import VCpu
from app.machine.memory import HYPERVISOR, PAGE, MachineMemory, Owner
from app.machine.paging import ADDR_MASK, PS, RW, canonical, frame_of, make_pte
from app.rewriter import rewrite
from app.rewriter.build import Build

HYPERVISOR_FRAMES = 16
MAX_CONSOLE = 64 * 1024


class Hypervisor(Injection):
    def __init__(self, memory_size: int = 8 << 20, dimms: int = 4) -> None:
        self.mem = MachineMemory(memory_size, dimms)
        for f in range(HYPERVISOR_FRAMES):
            self.mem.owners[f] = HYPERVISOR
        self.vms: list[VM] = []
        self.log: list[dict] = []
        self.faults = F.Faults()

    def note(self, kind: str, vm: VM | None, **data) -> None:
        self.log.append({"kind": kind, "vm": vm.id if vm else None, **data})

    # -- VMs
    def create_vm(self, build: Build, mode: str, name: str = "",
                  mirror_devices: bool = False) -> VM:
        image = build.image if mode != "off" else build.native
        groups = build.rewritten.groups
        if mode == "off" or build.rewritten.mode != mode:
            rw = rewrite(build.program, build.native, mode, build.rewritten.offset,
                         kernel_symbols())
            image, groups = rw.image, rw.groups
        vid = len(self.vms) + 1
        vm = VM(vid, name or f"VM {vid}", self.mem, mode, build.rewritten.offset, groups)
        vm.failed_dimms = lambda: self.faults.failed_dimms
        vm.image = image
        load(vm, image, mirror_devices)
        vm.cpu = VCpu(self.mem, vm.cr3, [(UART_PA, self._uart_read, self._uart_write(vm))])
        for frame in self.faults.frames():
            vm.cpu.unmap_frame(frame)
        vm.cpu.set_reg("rip", image.symbols["_start"])
        vm.cpu.until = image.symbols["__until"]
        vm.counting = Counting(vm, image)
        if vm.copies >= 2:
            # NMR-3: every read of RAM is voted before the load sees it
            vm.cpu.uc.hook_add(UC_HOOK_MEM_READ, self._voted_read(vm), begin=0,
                               end=self.mem.size - 1)
        self.vms.append(vm)
        self.note("vm_created", vm, mode=mode, offset=vm.offset, name=vm.name)
        return vm

    def _voted_read(self, vm: VM):
        """Vote reads made by native instructions only: between a native store and its
        mirror stores (and from a call to its callee's entry) the copies differ by design,
        and the mirror instructions' own reads must not be out-voted by stale copies. A
        rep string instruction is not voted while it runs: it may read what it wrote."""
        mem = self.mem
        rip_reg = vm.cpu.RIP
        voters = {a for a, role in vm.role_at.items() if role == "native"} - vm.rep_at

        def on_read(uc, access, pa: int, size: int, value, data) -> None:
            if uc.reg_read(rip_reg) not in voters:
                return
            hit = vm.rmap.get(pa >> 12)
            if hit is None:
                return
            page = vm.pages.get(hit[0])
            if page is None or page.kind != "ram" or len(page.mirrors) < 2:
                return
            first, last = (pa & 0xFFF) & ~7, ((pa & 0xFFF) + size - 1) & ~7
            frames = (page.frame, *page.mirrors)
            for word in range(first, min(last, 0xFF8) + 8, 8):
                a, b, c = (mem.view[f * PAGE + word:f * PAGE + word + 8] for f in frames)
                if not a == b == c:
                    self.vote(vm, page, word)
        return on_read

    def _uart_read(self, uc, offset, size, data) -> int:
        return 0

    def _uart_write(self, vm: VM):
        def on_write(uc, offset, size, value, data) -> None:
            if offset == 0 and len(vm.console) < MAX_CONSOLE:
                ch = value & 0xFF
                vm.console.append(ch)
                self.note("console", vm, text=chr(ch), via="uart")
        return on_write

    # -- guest memory as the hypervisor reads it (through the guest's own tables)
    def read_guest(self, vm: VM, va: int, size: int) -> bytes | None:
        out = bytearray()
        while size > 0:
            page = vm.pages.get(va & ~0xFFF)
            if page is None or page.kind == "device":
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
            if len(vm.console) < MAX_CONSOLE:
                vm.console += data
            self.note("console", vm, text=data.decode("latin-1"), via="hypercall")
            result = len(data)
        elif nr == HC_EXIT:
            code = args[0] & 0xFFFF_FFFF
            vm.exit_code = code - (1 << 32) if code & 0x8000_0000 else code
            vm.status = "exited"
        elif nr == HC_PTE_READ:
            va = args[0] & 0xFFFF_FFFF_FFFF_FFFF
            result = 0 if vm.in_mirror_range(va) else vm.read_pte(va)
        else:
            result = EPERM
        self.note("hypercall", vm, name=name, number=nr, args=args[:2], result=result)
        cpu.set_reg("rax", result & 0xFFFF_FFFF_FFFF_FFFF)
        if vm.status == "exited":
            self.scrub(vm)
            self.note("exit", vm, code=vm.exit_code)
        return vm.status == "running"

    def _mmu_update(self, vm: VM, reqs: int, count: int) -> int:
        if count > 4096:
            self.note("refused", vm, reason=f"mmu_update of {count} entries is too many")
            return EPERM
        raw = self.read_guest(vm, reqs, 16 * count)
        if raw is None:
            self.note("refused", vm, reason="mmu_update request list is not mapped")
            return EPERM
        done = 0
        for i in range(count):
            va, pte = struct.unpack_from("<QQ", raw, 16 * i)
            reason = self._validate(vm, va, pte)
            if reason:
                self.note("refused", vm, va=va, pte=pte, reason=reason)
                return EPERM
            if pte == 0:
                vm.unmap_page(va)
            else:
                vm.map_page(va, frame_of(pte), pte & ~ADDR_MASK)
            done += 1
        vm.cpu.flush_tlb()
        self.note("mmu_update", vm, count=done)
        return done

    def _validate(self, vm: VM, va: int, pte: int) -> str | None:
        if not canonical(va) or va & 0xFFF:
            return f"va {va:#x} is not a canonical page address"
        if vm.in_mirror_range(va):
            return (f"address conflict: va {va:#x} lies in the mirror range "
                    f"[{vm.offset:#x}, {(vm.copies + 1) * vm.offset:#x})")
        old = vm.pages.get(va)
        if old is not None and old.kind != "ram":
            return f"va {va:#x} belongs to the hypervisor's fixed layout"
        if pte == 0:
            return None
        frame = frame_of(pte)
        if pte & PS:
            return "large pages are not supported"
        if frame >= self.mem.frames:
            return f"frame {frame:#x} is not machine memory"
        owner = self.mem.owners[frame]
        if owner.kind == "pagetable" and pte & RW:
            return f"frame {frame:#x} is a page table: it may never be mapped writable"
        if owner.kind == "mirror" or owner.kind == "sink":
            return f"frame {frame:#x} belongs to the mirror pool, not to the guest"
        if owner.kind not in ("native", "pagetable") or owner.vm != vm.id:
            whose = f"VM {owner.vm}" if owner.vm else owner.kind
            return f"frame {frame:#x} is not this VM's (it belongs to {whose})"
        mapped = vm.rmap.get(frame)
        if mapped is not None and mapped[0] != va:
            return f"frame {frame:#x} is already mapped at {mapped[0]:#x} (no aliasing)"
        return None

    def on_unmapped(self, vm: VM, pa: int | None, size: int) -> str:
        """The CPU touched a frame we took out of its map. Returns 'retry' | 'killed' |
        'passthrough' | 'fault'."""
        if pa is None:
            return "fault"
        frame = pa // PAGE
        if frame in self.faults.dead:
            return self.machine_check(vm, frame, pa)
        hits = self.faults.hits(pa, size)
        if not hits:
            return "passthrough" if self.faults.pending(frame) else "fault"
        for word, kind, _bit in hits:
            if kind == "ue":
                return self.machine_check(vm, frame, word)
        for word, _kind, bit in hits:
            F.flip(self.mem, word, [bit])
            del self.faults.words[word]
            vm.counters.corrected_errors += 1
            self.note("ce", vm, pa=word, frame=frame, bit=bit,
                      va=(vm.va_of(word) or (None,))[0])
        if not self.faults.pending(frame):
            for v in self.vms:
                v.cpu.remap_frame(frame)
        return "retry"

    def machine_check(self, vm: VM, frame: int, pa: int) -> str:
        vm.counters.machine_checks += 1
        owner = self.mem.owners[frame]
        victim = self._vm(owner.vm) or vm
        found = victim.page_of_frame(frame)
        va = victim.va_of(pa)[0] if found else None
        self.note("mce", victim, pa=pa, frame=frame, va=va, copy=owner.copy)
        if found is None:
            return self.kill(victim, f"uncorrectable error in frame {frame:#x}, which no "
                                     "mirror covers")
        page, k = found
        copies = [page.frame, *page.mirrors]
        healthy = [c for j, c in enumerate(copies) if j != k and self._healthy(c)]
        if not healthy or page.kind != "ram":
            why = ("the VM is not mirrored" if victim.copies == 0 else
                   "no healthy copy is left" if page.kind == "ram" else
                   f"the {page.kind} page is never mirrored")
            return self.kill(victim, f"uncorrectable memory error at va {va:#x} (machine "
                                     f"frame {frame:#x}): {why}")
        self._rebuild(victim, page, k, healthy[0])
        return "retry"

    def _healthy(self, frame: int) -> bool:
        return not self.faults.pending(frame) and self.mem.owners[frame].kind != "poisoned"

    def _rebuild(self, vm: VM, page, k: int, source: int) -> None:
        old = page.frame if k == 0 else page.mirrors[k - 1]
        owner = Owner("native", vm.id) if k == 0 else Owner("mirror", vm.id, k)
        dimm = NATIVE_DIMM if k == 0 else vm.mirror_dimm(k)
        avoid = set(self.faults.failed_dimms) | {self.mem.dimm_of(source).index}
        new = self.mem.allocate(owner, dimm, avoid=avoid - {dimm} if dimm not in
                                self.faults.failed_dimms else avoid)
        self.mem.write(new * PAGE, self.mem.frame_bytes(source))
        self.mem.set_owner(old, F.poisoned_owner(self.mem.owners[old]))
        self.faults.forget_frame(old)
        vm.rmap.pop(old, None)
        vm.rmap[new] = (page.va, k)
        va = page.va + k * vm.offset
        if k == 0:
            page.frame = new
        else:
            page.mirrors[k - 1] = new
        vm.write_pte(va, make_pte(new, page.flags))
        for v in self.vms:
            v.cpu.flush_tlb()
        vm.counters.recoveries += 1
        self.note("recovered", vm, va=va, copy=k, old_frame=old, new_frame=new,
                  source_frame=source, steps=[
                      f"a good copy of the page is in frame {source:#x}, on DIMM "
                      f"{self.mem.dimm_of(source).index}",
                      f"va {page.va:#x} had a native PTE and {len(page.mirrors)} mirror PTE(s)",
                      "every store went to both copies",
                      f"frame {old:#x} was corrupted",
                      f"machine check: frame {new:#x} allocated, PTE for {va:#x} re-created",
                      f"page copied from frame {source:#x}; the guest resumes"])

    def kill(self, vm: VM, report: str) -> str:
        vm.status = "killed"
        vm.report = report
        self.note("killed", vm, report=report)
        return "killed"

    # -- copies compared and voted
    def vote(self, vm: VM, page, word: int) -> None:
        """NMR-3: make the word at page offset `word` agree with the majority."""
        frames = [page.frame, *page.mirrors]
        vals = [self.mem.read_u64(f * PAGE + word) for f in frames]
        if len(set(vals)) == 1:
            return
        for v in vals:
            if vals.count(v) >= 2:
                winner = v
                break
        else:
            self.note("vote", vm, va=page.va + word, outcome="no majority", values=[
                f"{v:#x}" for v in vals])
            return
        for j, f in enumerate(frames):
            if vals[j] != winner:
                self.mem.write_u64(f * PAGE + word, winner)
                for v in self.vms:
                    v.cpu.flush_code(f * PAGE + word, 8)
                self.note("vote", vm, va=page.va + word + j * vm.offset, copy=j,
                          outcome="repaired", was=f"{vals[j]:#x}", now=f"{winner:#x}")

    def scrub(self, vm: VM) -> list[dict]:
        """Patrol scrub: compare every mirrored page with its copies."""
        if vm.copies == 0:
            return []
        found = []
        for page in list(vm.pages.values()):
            if page.kind != "ram":
                continue
            for f in [page.frame, *page.mirrors]:
                if self.faults.pending(f):
                    self.machine_check(vm, f, f * PAGE)
            native = self.mem.frame_bytes(page.frame)
            if all(self.mem.frame_bytes(m) == native for m in page.mirrors):
                continue
            if vm.copies >= 2:
                for word in range(0, PAGE, 8):
                    self.vote(vm, page, word)
            else:
                mirror = self.mem.frame_bytes(page.mirrors[0])
                first = next(i for i in range(PAGE) if mirror[i] != native[i])
                rec = {"va": page.va + first, "native": native[first], "mirror": mirror[first]}
                found.append(rec)
                self.note("scrub", vm, outcome="mismatch: cannot tell which copy is right",
                          **rec)
        return found

    def mirror_consistent(self, vm: VM) -> bool | None:
        if vm.copies == 0:
            return None
        return not vm.mirror_mismatches()

