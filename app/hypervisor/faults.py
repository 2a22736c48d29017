"""Memory errors, as the hypervisor models them (the emulated DRAM has no ECC).

  ce      one bit flipped; the controller corrects it on the first access and counts it
  ue      two bits flipped; the first access raises a machine check. A mirrored VM's
          page is rebuilt from its mirror on a new frame; an unmirrored VM is killed
  silent  bits flipped with no detection at all: only NMR-3's voted reads (or a scrub
          of the copies) can notice
  dimm    every frame on one DIMM fails as a ue

A frame with a pending ce/ue is taken out of every vCPU's map, so the CPU stops
*before* the access retires: the faulting instruction runs again after recovery.
NMR-3's voter and the scrub read every copy, so they meet pending errors too.
Errors are per 8-byte word.

An error that lands between a native store and its mirror stores is a special case
(window.py): a mirror copy rebuilt from a copy that already holds the store must not
have the pending mirror store applied again (a read-modify-write would apply twice),
so the hypervisor completes that store itself; a native rep instruction caught part-way
starts over; and where the mirror sequence reads the native copy to copy it (xadd,
cmpxchg, pops, a callee's entry...), a ue on the native copy loses the only copy of the
value and the VM is killed. A ue on the native copy under a repeat-type mirror is met at
the next read, after the mirror stores, and rebuilt from a mirror holding the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.contracts import ErrorKind, OwnerKind
from app.machine.memory import PAGE, Owner

KINDS = tuple(ErrorKind)
EXPLAIN = {
    "ce": "A correctable error: one bit flips in a DRAM word. ECC corrects it on the next "
          "read and the hypervisor counts it; nothing else happens.",
    "ue": "An uncorrectable error: two bits flip. ECC detects but cannot correct it, so the "
          "first access raises a machine check. kMemvisor rebuilds the page from its mirror "
          "on a new frame and resumes the VM; without a mirror the VM must die.",
    "silent": "A silent error: bits flip and ECC does not notice. The VM reads wrong data. "
              "With NMR-3 the three copies are voted on every read and the odd one out is "
              "repaired; with one mirror a scrub can see that the copies differ, not which "
              "is right.",
    "dimm": "A whole DIMM fails: every frame on it becomes uncorrectable. Mirrored VMs "
            "recover page by page from the mirror DIMM; unmirrored VMs on it die.",
}

# the explanation card shown to a class when the instructor injects an error
CARDS = {
    "ce": {"title": "Correctable error (CE)",
           "models": "A single bit of a DRAM word flips: a cosmic ray, a weak cell.",
           "ecc": "SECDED ECC corrects it on the next read and counts it.",
           "hypervisor": "Nothing to do but count: the VM never notices.",
           "without": "The same: ECC alone handles single-bit errors."},
    "ue": {"title": "Uncorrectable error (UE)",
           "models": "Two bits of one word flip: ECC can detect the damage but not repair it.",
           "ecc": "Detects it and raises a machine check at the first access.",
           "hypervisor": "Takes a new frame, re-creates the PTE, copies the page from its "
                         "mirror and resumes the guest at the faulting instruction.",
           "without": "Nothing holds a good copy: the hypervisor must kill the VM."},
    "silent": {"title": "Silent corruption",
               "models": "Bits flip and ECC does not see it (too many bits, or no ECC).",
               "ecc": "Nothing: the wrong value is read as if it were right.",
               "hypervisor": "With NMR-3 every read of mirrored memory is voted: the odd "
                             "copy is out-voted and repaired. With one mirror, a scrub sees "
                             "that the copies differ but not which one is right.",
               "without": "The program computes with the wrong value, unnoticed."},
    "dimm": {"title": "DIMM failure",
             "models": "A whole memory module fails: every frame on it is lost.",
             "ecc": "Every access to the DIMM raises a machine check.",
             "hypervisor": "Mirrors live on another DIMM: each page is rebuilt from its "
                           "mirror when it is next touched.",
             "without": "Every VM with pages on that DIMM dies."},
}


@dataclass
class Faults:
    words: dict[int, tuple[str, int]] = field(default_factory=dict)  # word pa -> (kind, bit)
    dead: set[int] = field(default_factory=set)                      # frames lost whole
    failed_dimms: set[int] = field(default_factory=set)

    # what save() covers: every field (tests/test_state.py holds it to that)
    STATE = ("words", "dead", "failed_dimms")
    DERIVED = ()

    def save(self) -> Faults:
        """The pending errors now, as a copy of their own (a memento)."""
        return Faults(dict(self.words), set(self.dead), set(self.failed_dimms))

    def load(self, saved: Faults) -> None:
        """Become `saved` in place (the services that hold this object keep it)."""
        self.words, self.dead = dict(saved.words), set(saved.dead)
        self.failed_dimms = set(saved.failed_dimms)

    def to_json(self) -> dict:
        return {"words": [[pa, k, b] for pa, (k, b) in sorted(self.words.items())],
                "dead": sorted(self.dead), "failed_dimms": sorted(self.failed_dimms)}

    @classmethod
    def from_json(cls, j: dict) -> Faults:
        return cls({pa: (k, b) for pa, k, b in j["words"]}, set(j["dead"]),
                   set(j["failed_dimms"]))

    def frames(self) -> set[int]:
        return {pa // PAGE for pa in self.words} | self.dead

    def pending(self, frame: int) -> bool:
        return frame in self.dead or any(pa // PAGE == frame for pa in self.words)

    def hits(self, pa: int, size: int) -> list[tuple[int, str, int]]:
        first, last = pa & ~7, (pa + max(size, 1) - 1) & ~7
        return [(w, *self.words[w]) for w in range(first, last + 1, 8) if w in self.words]

    def forget_frame(self, frame: int) -> None:
        for w in [w for w in self.words if w // PAGE == frame]:
            del self.words[w]
        self.dead.discard(frame)


def flip(mem, pa: int, bits: list[int]) -> tuple[int, int]:
    """Flip bits of the 8-byte word at pa; returns (old, new) word values."""
    word = pa & ~7
    old = mem.read_u64(word)
    new = old
    for b in bits:
        new ^= 1 << b
    mem.write_u64(word, new)
    return old, new


def poisoned_owner(owner: Owner) -> Owner:
    return Owner(OwnerKind.POISONED, owner.vm, owner.copy)
