"""A vCPU's state as a value: the registers it has (their names and widths) and the
frames out of its map, with a step's registers as a reverse diff.

Apart from the vCPU so that what saves and packs a state needs no engine.
"""

from __future__ import annotations

from dataclasses import dataclass

GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
STATE_REGS = (*GPRS, "rip", "rflags", "fs_base", "gs_base", "mxcsr", "fpcw", "fpsw", "fptag",
              *(f"xmm{i}" for i in range(16)), *(f"st{i}" for i in range(8)))
# bytes of each register's value as Unicorn writes it (x87 registers: 80 bits)
REG_WIDTH = tuple(16 if n.startswith("xmm") else 10 if n.startswith("st") else
                  4 if n == "mxcsr" else 2 if n.startswith("fp") else 8 for n in STATE_REGS)


@dataclass(frozen=True)
class CpuState:
    """What a vCPU holds beyond machine memory: its registers and the frames taken
    out of its map."""

    regs: tuple[int, ...]  # in the order of STATE_REGS
    holes: frozenset[int]

    def values(self) -> dict[str, int]:
        return dict(zip(STATE_REGS, self.regs, strict=True))

    def to_json(self) -> dict:
        return {"regs": self.values(), "holes": sorted(self.holes)}

    @classmethod
    def from_json(cls, j: dict) -> CpuState:
        return cls(tuple(j["regs"][n] for n in STATE_REGS), frozenset(j["holes"]))

    def changed(self, now: dict[str, int]) -> list[tuple[int, int]]:
        """(index in STATE_REGS, value in this state) of every register `now` (a
        state()) holds otherwise: a step's registers as a reverse diff."""
        return [(i, old) for i, (n, old) in enumerate(zip(STATE_REGS, self.regs,
                                                           strict=True)) if now[n] != old]

    @staticmethod
    def pack_changed(changed: list[tuple[int, int]]) -> bytes:
        """The diff of changed() in bytes: per register its index and its value."""
        out = bytearray()
        for i, old in changed:
            out.append(i)
            out += old.to_bytes(REG_WIDTH[i], "little")
        return bytes(out)

    @staticmethod
    def unpack_changed(blob: bytes, at: int, count: int) -> tuple[dict[str, int], int]:
        """(registers by name, the offset after them) of `count` packed registers."""
        regs = {}
        for _ in range(count):
            i = blob[at]
            w = REG_WIDTH[i]
            regs[STATE_REGS[i]] = int.from_bytes(blob[at + 1:at + 1 + w], "little")
            at += 1 + w
        return regs, at
