"""The vCPU's registers by name: which ones make its state, how wide each is, and the
engine's id of each (the engine numbers them; every layer above names them).

The state is read in one batch into a buffer of 16-byte slots, unpacked by one struct.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from unicorn import x86_const as X

GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
STATE_REGS = (*GPRS, "rip", "rflags", "fs_base", "gs_base", "mxcsr", "fpcw", "fpsw", "fptag",
              *(f"xmm{i}" for i in range(16)), *(f"st{i}" for i in range(8)))
ENGINE_ID = {name: getattr(X, f"UC_X86_REG_{name.upper()}") for name in (
    *GPRS, "rip", "rflags", "fs_base", "gs_base", "mxcsr", "fptag",
    *(f"xmm{i}" for i in range(16)), *(f"st{i}" for i in range(8)))}
ENGINE_ID["fpcw"] = X.UC_X86_REG_FPCW
ENGINE_ID["fpsw"] = X.UC_X86_REG_FPSW
STATE_IDS = [ENGINE_ID[n] for n in STATE_REGS]
# bytes of each register's value as the engine writes it (x87 registers: 80 bits)
_WIDTH = [16 if n.startswith("xmm") else 10 if n.startswith("st") else
          4 if n == "mxcsr" else 2 if n.startswith("fp") else 8 for n in STATE_REGS]
SLOT = 16
REG_WIDTH = tuple(_WIDTH)
# the batch buffer read by one struct, slot by slot: a register of up to 64 bits is
# one value, a wider one its low 64 bits and the rest (XMM 64+64, x87 64+16)
_CODES = {8: "Q8x", 4: "I12x", 2: "H14x", 16: "QQ", 10: "QH6x"}
LAYOUT = struct.Struct("<" + "".join(_CODES[w] for w in _WIDTH))


def _plan() -> list[tuple[str, int, int | None]]:
    """(name, index of its (low) part in LAYOUT, index of its high part or None)."""
    plan, at = [], 0
    for name, width in zip(STATE_REGS, _WIDTH, strict=True):
        plan.append((name, at, at + 1 if width > 8 else None))
        at += 2 if width > 8 else 1
    return plan


PLAN = _plan()
WIDE = {n for n, w in zip(STATE_REGS, _WIDTH, strict=True) if w > 8}
# the control registers' bits the vCPU sets: long mode with paging, write protection
# and no-execute, SSE on
EFER = 0xC0000080
CR0_PE, CR0_WP, CR0_PG = 1, 1 << 16, 1 << 31
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 1 << 5, 1 << 9, 1 << 10
EFER_LME, EFER_LMA, EFER_NXE = 1 << 8, 1 << 10, 1 << 11


@dataclass(frozen=True)
class CpuState:
    """What a vCPU holds beyond machine memory: its registers and the frames taken
    out of its map."""

    regs: tuple[int, ...]  # in the order of STATE_REGS
    holes: frozenset[int]

    def values(self) -> dict[str, int]:
        return dict(zip(STATE_REGS, self.regs, strict=True))
