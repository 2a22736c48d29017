"""General-purpose register names: which 64-bit register each name is part of."""

from __future__ import annotations

GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")

FAMILY: dict[str, tuple[str, int]] = {}
for _r, (_q, _d, _w, _b) in {
    "rax": ("rax", "eax", "ax", "al"), "rbx": ("rbx", "ebx", "bx", "bl"),
    "rcx": ("rcx", "ecx", "cx", "cl"), "rdx": ("rdx", "edx", "dx", "dl"),
    "rsi": ("rsi", "esi", "si", "sil"), "rdi": ("rdi", "edi", "di", "dil"),
    "rbp": ("rbp", "ebp", "bp", "bpl"), "rsp": ("rsp", "esp", "sp", "spl"),
}.items():
    FAMILY.update({_q: (_r, 8), _d: (_r, 4), _w: (_r, 2), _b: (_r, 1)})
for _n in range(8, 16):
    FAMILY.update({f"r{_n}": (f"r{_n}", 8), f"r{_n}d": (f"r{_n}", 4),
                    f"r{_n}w": (f"r{_n}", 2), f"r{_n}b": (f"r{_n}", 1)})
for _h in ("ah", "bh", "ch", "dh"):
    FAMILY[_h] = ("r" + _h[0] + "x", 1)



def family(reg: str) -> str | None:
    f = FAMILY.get(reg)
    return f[0] if f else None
