"""Recovery from memory errors: corrections, machine checks, NMR-3's votes, the scrub.

NMR-3's voter runs inside the CPU's read hook, in the middle of an instruction. There
the engine's map and TLB must stay as they are (the access in progress still uses its
TLB entry), so what the voter starts is finished later: a frame it corrected is mapped
back at its next access, and a page it rebuilt needs no TLB flush because no TLB entry
can name a frame outside the engine's map (every access to one stops the CPU, and
every stop's handling ends with a flush).
"""

from __future__ import annotations

from dataclasses import replace

from app.contracts import ErrorKind, NoteKind, OwnerKind, Role, Status, VoteOutcome, WriteClass
from app.hypervisor import faults as F
from app.hypervisor import window as W
from app.hypervisor.answers import Answer
from app.hypervisor.vm import NATIVE_DIMM, VM
from app.hypervisor.vmstate import PageKind
from app.machine.memory import PAGE, Owner
from app.machine.paging import NX, make_pte

_DF = 1 << 10


class Recovery:
    """The hypervisor's answer to memory errors, as a service: handed the machine's
    memory, its pending faults, the VMs and the log's `note` (the same objects the
    hypervisor keeps; each restores its own state in place)."""

    def __init__(self, mem, faults: F.Faults, vms: list[VM], note) -> None:
        self.mem, self.faults, self.vms, self.note = mem, faults, vms, note

    def _vm(self, vid: int | None) -> VM | None:
        return next((v for v in self.vms if v.id == vid), None)

    # -- NMR-3: every read of RAM by a native instruction is voted before it is used
    def read_voter(self, vm: VM):
        """The read hook of an NMR-3 VM (a Hook.READ callback). Only native
        instructions' reads are voted: between a native store and its mirror stores
        (and from a call to its callee's entry) the copies differ by design, and the
        mirror instructions' own reads must not be out-voted by stale copies. For the
        same reason a native rep movs does not vote the words it has itself stored so
        far in this instance."""
        mem = self.mem  # (self.faults is looked up each time: undo replaces it)
        cpu = vm.cpu
        voters = {a for a, role in vm.role_at.items() if role == Role.NATIVE}
        # rep movs/stos: the register holding the instance's first rdi, and element size
        stores = {a: (W.rep_saves(vm.group_of[a]).get("rdi"), vm.group_of[a].wclass.size)
                  for a in vm.rep_at & voters if vm.group_of[a].wclass.kind == WriteClass.STRING}

        def on_read(access: int, pa: int, size: int, value: int) -> None:
            rip = cpu.reg("rip")
            if rip not in voters:
                return
            hit = vm.rmap.get(pa >> 12)
            if hit is None:
                return
            page = vm.pages.get(hit[0])
            if page is None or page.kind != PageKind.RAM or len(page.mirrors) < 2:
                return
            lo, hi = _stored_so_far(vm, *stores[rip]) if rip in stores else (0, 0)
            first, last = (pa & 0xFFF) & ~7, ((pa & 0xFFF) + size - 1) & ~7
            for word in range(first, min(last, 0xFF8) + 8, 8):
                if lo < page.va + word + 8 and page.va + word < hi:
                    continue
                if self.faults.words or self.faults.dead:
                    # the voter reads every copy: a pending error in one is met here
                    self._settle_word(vm, page, word)
                    if vm.status != Status.RUNNING:
                        cpu.stop()
                        return
                a, b, c = (mem.view[f * PAGE + word:f * PAGE + word + 8]
                           for f in (page.frame, *page.mirrors))
                if not a == b == c:
                    self.vote(vm, page, word)
        return on_read

    def _settle_word(self, vm: VM, page, word: int) -> None:
        """The voter reads `word` in every copy: ECC corrects a ce, a ue machine-checks."""
        for f in (page.frame, *page.mirrors):
            pa = f * PAGE + word
            if f in self.faults.dead:
                self.machine_check(vm, f, pa, in_hook=True)
            elif pa in self.faults.words:
                kind, bit = self.faults.words[pa]
                if kind == ErrorKind.CE:
                    self._correct(vm, pa, bit, remap=False)
                else:
                    self.machine_check(vm, f, pa, in_hook=True)

    # -- the CPU touched a frame taken out of its map
    def on_unmapped(self, vm: VM, pa: int | None, size: int) -> Answer:
        """How the CPU's access to a frame taken out of its map goes on."""
        if pa is None:
            return Answer.FAULT
        frame = pa // PAGE
        if frame in self.faults.dead:
            return self.machine_check(vm, frame, pa, by_cpu=True)
        hits = self.faults.hits(pa, max(size, self._reach(vm, pa)))
        if not hits:
            if self.faults.pending(frame):
                return Answer.PASSTHROUGH
            if frame in vm.cpu.holes and self.mem.owners[frame].kind != OwnerKind.POISONED:
                self._remap(frame)  # corrected by the voter, which may not remap
                return Answer.RETRY
            return Answer.FAULT
        for word, kind, _bit in hits:
            if kind == ErrorKind.UE:
                return self.machine_check(vm, frame, word, by_cpu=True)
        for word, _kind, bit in hits:
            self._correct(vm, word, bit)
        return Answer.RETRY

    @staticmethod
    def _reach(vm: VM, pa: int) -> int:
        """How far from `pa`, in its frame, the current instruction may still read: the
        CPU reports the first part of an access only, and the frame is mapped back for
        the whole instruction if that part is clean. A fetch covers the instruction (up
        to 15 bytes), a data access the rest of its memory operand (16 bytes for SSE)."""
        where = vm.va_of(pa)
        rip = vm.cpu.reg("rip")
        insn = W.decode_at(vm, rip)
        if where is None or insn is None:
            return 0
        va = where[0]
        if rip <= va < rip + 15:
            end = rip + insn.size
        else:
            span = W.operand_span(vm, insn)
            end = span[0] + span[1] if span and span[0] <= va < span[0] + span[1] else va
        return min(end - va, PAGE - pa % PAGE)

    def _correct(self, vm: VM, word: int, bit: int, remap: bool = True) -> None:
        frame = word // PAGE
        F.flip(self.mem, word, [bit])
        del self.faults.words[word]
        vm.counters.corrected_errors += 1
        self.note(NoteKind.CE, vm, pa=word, frame=frame, bit=bit, va=(vm.va_of(word) or (None,))[0])
        if remap and not self.faults.pending(frame):
            self._remap(frame)

    def _remap(self, frame: int) -> None:
        for v in self.vms:
            v.cpu.remap_frame(frame)

    def machine_check(self, vm: VM, frame: int, pa: int, by_cpu: bool = False,
                      in_hook: bool = False) -> Answer:
        """A ue met at `pa`: by the CPU's current instruction (by_cpu), by the voter
        (in_hook) or by the scrub. Rebuilds the copy on a new frame or kills the VM."""
        vm.counters.machine_checks += 1
        owner = self.mem.owners[frame]
        victim = self._vm(owner.vm) or vm
        found = victim.page_of_frame(frame)
        va = victim.va_of(pa)[0] if found else None
        self.note(NoteKind.MCE, victim, pa=pa, frame=frame, va=va, copy=owner.copy)
        if found is None:
            return self.kill(victim, f"uncorrectable error in frame {frame:#x}, which no "
                                     "mirror covers")
        page, k = found
        copies = [page.frame, *page.mirrors]
        healthy = [j for j, c in enumerate(copies) if j != k and self._healthy(c)]
        if not healthy or page.kind != PageKind.RAM:
            why = ("the VM is not mirrored" if victim.copies == 0 else
                   "no healthy copy is left" if page.kind == PageKind.RAM else
                   f"the {page.kind} page is never mirrored")
            return self.kill(victim, f"uncorrectable memory error at va {va:#x} (machine "
                                     f"frame {frame:#x}): {why}")
        fault = W.fault_at(vm, k, page.va) if by_cpu and victim is vm else None
        if fault is not None and fault.lost:
            return self.kill(victim, fault.report(va))
        j = W.source_order(k, healthy)[0]
        self._rebuild(victim, page, k, copies[j], flush=not in_hook)
        W.resume(fault, j)
        return Answer.RETRY

    def _healthy(self, frame: int) -> bool:
        return not self.faults.pending(frame) and self.mem.owners[frame].kind != OwnerKind.POISONED

    def _rebuild(self, vm: VM, page, k: int, source: int, flush: bool = True) -> None:
        old = page.frame if k == 0 else page.mirrors[k - 1]
        owner = Owner(OwnerKind.NATIVE, vm.id) if k == 0 else Owner(OwnerKind.MIRROR, vm.id, k)
        dimm = NATIVE_DIMM if k == 0 else vm.mirror_dimm(k)
        avoid = set(self.faults.failed_dimms) | {self.mem.dimm_of(source).index}
        new = self.mem.allocate(owner, dimm, avoid=avoid - {dimm} if dimm not in
                                self.faults.failed_dimms else avoid)
        self.mem.write(new * PAGE, self.mem.frame_bytes(source))
        self.mem.set_owner(old, F.poisoned_owner(self.mem.owners[old]))
        self.faults.forget_frame(old)
        vm.rmap.pop(old, None)
        vm.rmap[new] = (page.va, k)
        if old in vm.code_frames:
            vm.code_frames.discard(old)
            vm.code_frames.add(new)
        va = page.va + k * vm.offset
        if k == 0:
            page.frame = new
        else:
            page.mirrors[k - 1] = new
        vm.write_pte(va, make_pte(new, page.flags))
        if flush:
            for v in self.vms:
                v.cpu.flush_tlb()
        vm.counters.recoveries += 1
        self.note(NoteKind.RECOVERED, vm, va=va, copy=k, old_frame=old, new_frame=new,
                  source_frame=source, steps=[
                      f"a good copy of the page is in frame {source:#x}, on DIMM "
                      f"{self.mem.dimm_of(source).index}",
                      f"va {page.va:#x} had a native PTE and {len(page.mirrors)} mirror PTE(s)",
                      _every_store(len(page.mirrors) + 1),
                      f"frame {old:#x} was corrupted",
                      f"machine check: frame {new:#x} allocated, PTE for {va:#x} re-created",
                      f"page copied from frame {source:#x}; the guest resumes"])

    def kill(self, vm: VM, report: str) -> Answer:
        vm.status = Status.KILLED
        vm.report = report
        self.note(NoteKind.KILLED, vm, report=report)
        return Answer.KILLED

    def code_changed(self, pa: int, size: int) -> None:
        """Machine bytes changed behind the CPU: drop their translations if they are the
        native copy of an executable page (the only copy code runs from)."""
        frame = pa // PAGE
        for v in self.vms:
            found = v.page_of_frame(frame)
            if found is None or found[1] != 0 or found[0].flags & NX or frame in v.cpu.holes:
                continue
            v.cpu.flush_code(found[0].va + (pa & 0xFFF), size)

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
            self.note(NoteKind.VOTE, vm, va=page.va + word, outcome=VoteOutcome.NO_MAJORITY,
                      values=[f"{v:#x}" for v in vals])
            return
        for j, f in enumerate(frames):
            if vals[j] != winner:
                self.mem.write_u64(f * PAGE + word, winner)
                self.code_changed(f * PAGE + word, 8)
                self.note(NoteKind.VOTE, vm, va=page.va + word + j * vm.offset, copy=j,
                          outcome=VoteOutcome.REPAIRED, was=f"{vals[j]:#x}", now=f"{winner:#x}")

    def scrub(self, vm: VM, patrol: bool = False,
              in_flight: list[tuple[int, int]] = ()) -> list[dict]:
        """Compare every mirrored page with its copies (pending errors are met first:
        a ce is corrected, a ue machine-checks). NMR-3 votes the pages that differ; one
        mirror can only report them (a patrol reports each difference once). The
        guest-virtual (address, size) spans `in_flight` are stores not yet mirrored:
        they are left out of the comparison."""
        if vm.copies == 0:
            return []
        found = []
        pending = bool(self.faults.words or self.faults.dead)
        view = self.mem.view
        for page in list(vm.pages.values()):
            if page.kind != PageKind.RAM:
                continue
            if pending:
                self._settle_page(vm, page)
            a = page.frame * PAGE
            native = bytes(view[a:a + PAGE])  # bytes compare at C speed; views do not
            skip = _offsets_in(page.va, in_flight)
            copies = [_masked(view[m * PAGE:(m + 1) * PAGE].tobytes(), native, skip)
                      for m in page.mirrors]
            if all(c == native for c in copies):
                continue
            if vm.copies >= 2:
                for word in range(0, PAGE, 8):
                    if not skip.intersection(range(word, word + 8)):
                        self.vote(vm, page, word)
                continue
            found += self._report(vm, page, native, copies[0], patrol)
        return found

    def _report(self, vm: VM, page, native: bytes, mirror: bytes, patrol: bool) -> list:
        first = next(i for i in range(PAGE) if mirror[i] != native[i])
        rec = {"va": page.va + first, "native": native[first], "mirror": mirror[first]}
        key = (rec["va"], rec["native"], rec["mirror"])
        if patrol and key in vm.patrol.seen:
            return [rec]
        vm.patrol = replace(vm.patrol, seen=vm.patrol.seen | {key})
        self.note(NoteKind.SCRUB, vm, outcome="mismatch: cannot tell which copy is right",
                  patrol=patrol, native_instructions=vm.counters.native_instructions,
                  **rec)
        return [rec]

    def _settle_page(self, vm: VM, page) -> None:
        for f in [page.frame, *page.mirrors]:
            if f in self.faults.dead:
                self.machine_check(vm, f, f * PAGE)
                continue
            for word in sorted(w for w in self.faults.words if w // PAGE == f):
                kind, bit = self.faults.words[word]
                if kind != ErrorKind.CE:
                    self.machine_check(vm, f, word)
                    break
                self._correct(vm, word, bit)

    def mirror_consistent(self, vm: VM) -> bool | None:
        if vm.copies == 0:
            return None
        return not vm.mirror_mismatches()


def _offsets_in(page_va: int, spans) -> set[int]:
    """The byte offsets within the page at `page_va` that the spans cover."""
    return {va - page_va for start, size in spans for va in range(start, start + size)
            if page_va <= va < page_va + PAGE}


def _masked(copy: bytes, native: bytes, offsets: set[int]) -> bytes:
    """`copy` with the native bytes at `offsets` (so that they compare equal)."""
    if not offsets:
        return copy
    out = bytearray(copy)
    for o in offsets:
        out[o] = native[o]
    return bytes(out)


def _stored_so_far(vm: VM, start_reg: str | None, size: int) -> tuple[int, int]:
    """The guest range a native rep movs/stos has stored in this instance so far (the
    registers hold the current element's values while it reads)."""
    cpu = vm.cpu
    rdi = cpu.reg("rdi")
    if start_reg is None:
        return 0, 1 << 64  # its start is unknown: vote nothing it reads
    start = cpu.reg(start_reg)
    lo, hi = (rdi + size, start + size) if cpu.reg("rflags") & _DF else (start, rdi)
    return (lo, hi) if lo < hi else (0, 0)


def _every_store(copies: int) -> str:
    """What the rewriting did for a page of `copies` copies (one mirror's two, NMR-3's
    three)."""
    return "every store went to " + _ALL_COPIES.get(copies, f"all {copies} copies")


_ALL_COPIES = {2: "both copies", 3: "all three copies"}
