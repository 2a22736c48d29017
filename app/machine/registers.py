"""The engine's side of the vCPU's registers (app/machine/cpustate.py names them): the
engine's id of each (it numbers them; every layer above names them), and the control
registers' bits the vCPU sets.

The state is read in one batch into a buffer of 16-byte slots, unpacked by one struct.
"""

from __future__ import annotations

import struct

from unicorn import x86_const as X

from app.machine.cpustate import GPRS, REG_WIDTH, STATE_REGS

ENGINE_ID = {name: getattr(X, f"UC_X86_REG_{name.upper()}") for name in (
    *GPRS, "rip", "rflags", "fs_base", "gs_base", "mxcsr", "fptag",
    *(f"xmm{i}" for i in range(16)), *(f"st{i}" for i in range(8)))}
ENGINE_ID["fpcw"] = X.UC_X86_REG_FPCW
ENGINE_ID["fpsw"] = X.UC_X86_REG_FPSW
STATE_IDS = [ENGINE_ID[n] for n in STATE_REGS]
SLOT = 16
# the batch buffer read by one struct, slot by slot: a register of up to 64 bits is
# one value, a wider one its low 64 bits and the rest (XMM 64+64, x87 64+16)
_CODES = {8: "Q8x", 4: "I12x", 2: "H14x", 16: "QQ", 10: "QH6x"}
LAYOUT = struct.Struct("<" + "".join(_CODES[w] for w in REG_WIDTH))


def _plan() -> list[tuple[str, int, int | None]]:
    """(name, index of its (low) part in LAYOUT, index of its high part or None)."""
    plan, at = [], 0
    for name, width in zip(STATE_REGS, REG_WIDTH, strict=True):
        plan.append((name, at, at + 1 if width > 8 else None))
        at += 2 if width > 8 else 1
    return plan


PLAN = _plan()
WIDE = {n for n, w in zip(STATE_REGS, REG_WIDTH, strict=True) if w > 8}
# the control registers' bits the vCPU sets: long mode with paging, write protection
# and no-execute, SSE on
EFER = 0xC0000080
CR0_PE, CR0_WP, CR0_PG = 1, 1 << 16, 1 << 31
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 1 << 5, 1 << 9, 1 << 10
EFER_LME, EFER_LMA, EFER_NXE = 1 << 8, 1 << 10, 1 << 11

