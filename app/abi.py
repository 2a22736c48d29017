"""The guest ABI: every address and number shared by the loader, the hypervisor, the
rewriter and the guest kernel. One place, so that the layers cannot disagree.

Guest virtual layout (all below the default mirror offset, 128 MiB + 640 KiB):

    0x0010_0000  kernel text        (mirrored)
    0x0014_0000  kernel data        (mirrored)
    0x001E_0000  start info         (read-only, mirrored)
    0x001F_0000  rewriter save area (never mirrored: it is scratch, like registers)
    0x001F_F000  UART               (device memory: never mirrored)
    0x0040_0000  program text; 0x80_0000 rodata; 0x90_0000 data; 0xA0_0000 bss
    0x00F0_0000 .. 0x0100_0000  stack (grows down from STACK_TOP)
"""

from __future__ import annotations

START_INFO_VA = 0x1E0000
SAVE_AREA_VA = 0x1F0000
UART_VA = 0x1FF000
STACK_TOP = 0x1000000
STACK_PAGES = 16
UART_PA = 0xFE000000  # device frame, outside RAM

# 128 MiB + 160 pages. The authors' xv6 demo used 128 MiB (PAPER_OFFSET), but the
# emulated CPU's TLB is direct-mapped on the page number (256 slots, fewer when QEMU
# shrinks it for a long session: 64 at least), and 128 MiB is a multiple of every
# size: a page and its mirror took the same slot and evicted each other at every store
# pair. 160 pages puts the mirror of page p at p + 160 (mod 256), p + 32 (mod 64): clear
# of the guest's own pages, which start at 1 MiB boundaries and at the stack's top.
DEFAULT_OFFSET = 0x80A0000
PAPER_OFFSET = 0x8000000
MAX_OFFSET = 1 << 44       # mirrors must stay inside the 47-bit user half
MIRROR_COPIES = {"off": 0, "on": 1, "nmr3": 2}

# hypercalls: `int $0x82` (Xen's old PV vector); number in RAX; arguments in RDI, RSI,
# RDX, R10; result in RAX
HYPERCALL_VECTOR = 0x82
HC_MMU_UPDATE = 1   # rdi = array of {u64 va, u64 pte}, rsi = count -> number applied
HC_CONSOLE = 2      # rdi = buffer, rsi = length
HC_EXIT = 3         # rdi = exit code
HC_PTE_READ = 4     # rdi = va -> the guest's view of the PTE (mirror entries read as 0)
HYPERCALLS = {HC_MMU_UPDATE: "mmu_update", HC_CONSOLE: "console_write", HC_EXIT: "exit",
              HC_PTE_READ: "pte_read"}
EPERM = -1

SAVE_SLOTS = 8  # 8-byte slots in the save area used by rewritten code


def parse_offset(value: int | str) -> int:
    """A mirror offset as people write it (hex, with or without 0x, or an integer);
    ValueError says what is wrong."""
    if isinstance(value, int):
        offset = value
    else:
        try:
            offset = int(str(value).strip(), 16)
        except ValueError:
            raise ValueError(f"offset '{value}' is not hexadecimal") from None
    if offset <= 0 or offset % 0x1000 or offset >= MAX_OFFSET:
        raise ValueError(f"the offset must be a positive multiple of 0x1000 below "
                         f"{MAX_OFFSET:#x}")
    return offset


def save_slot(k: int) -> int:
    return SAVE_AREA_VA + 8 * k


def kernel_symbols() -> dict[str, int]:
    """Constants the kernel source refers to by name."""
    return {"__start_info": START_INFO_VA, "__uart": UART_VA, "__hc_mmu_update": HC_MMU_UPDATE,
            "__hc_console": HC_CONSOLE, "__hc_exit": HC_EXIT, "__hc_pte_read": HC_PTE_READ,
            "__save_area": SAVE_AREA_VA}
