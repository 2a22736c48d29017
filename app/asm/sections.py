"""Where each section lives in the guest and how much room it has there.

Sections sit at fixed bases (app/abi.py lists the guest layout), so a section may grow
only up to the next one: that room is what every size in a program is checked against,
before anything is allocated for it.
"""

from __future__ import annotations

from app.asm.errors import AsmError

BASES = {"ktext": 0x100000, "kdata": 0x140000, "text": 0x400000,
         "rodata": 0x800000, "data": 0x900000, "bss": 0xA00000}
# up to the next base; .bss up to the stack's area at 0xF00000
LIMITS = {"ktext": 0x40000, "kdata": 0x40000, "text": 0x400000,
          "rodata": 0x100000, "data": 0x100000, "bss": 0x500000}
PERMS = {"ktext": "rx", "kdata": "rw", "text": "rx", "rodata": "r", "data": "rw", "bss": "rw"}
EXECUTABLE = tuple(name for name, perms in PERMS.items() if "x" in perms)


def check_fits(section: str, size: int, what: str, line: int | None = None) -> None:
    """Refuse `size` bytes that could never fit in `section`, naming what asked."""
    if size < 0:
        raise AsmError(f"{what} has a negative size ({size})", line)
    if size > LIMITS[section]:
        raise AsmError(f"{what} of {size:#x} bytes does not fit in .{section}, which has "
                       f"room for {LIMITS[section]:#x} bytes ({LIMITS[section] >> 10} KiB)",
                       line)
