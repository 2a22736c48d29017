"""The domain builder: load an image into a new VM's frames, map the kernel, and
leave the program's mappings for the guest kernel to request by hypercall."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from app.abi import SAVE_AREA_VA, STACK_PAGES, STACK_TOP, START_INFO_VA, UART_PA, UART_VA
from app.asm.layout import Image
from app.contracts import OwnerKind
from app.hypervisor.vmstate import NATIVE_DIMM, PageKind
from app.machine.memory import PAGE, Owner
from app.machine.paging import NX, RW, US, P, make_pte

if TYPE_CHECKING:  # the VM calls this while it is made
    from app.hypervisor.vm import VM

_FLAGS = {"rx": P | US, "r": P | US | NX, "rw": P | RW | US | NX}


def _pages(base: int, data: bytes):
    for off in range(0, len(data) or 1, PAGE):
        yield base + off, data[off:off + PAGE]


def load_image(vm: VM, image: Image, mirror_devices: bool = False) -> None:
    mem = vm.mem
    owner = Owner(OwnerKind.NATIVE, vm.id)

    def frame_with(data: bytes, code: bool = False) -> int:
        f = mem.allocate(owner, NATIVE_DIMM)
        mem.write(f * PAGE, data.ljust(PAGE, b"\0")[:PAGE])
        if code:  # the only frames mmu_update will map executable
            vm.code_frames.add(f)
        return f

    # the kernel, mapped by the builder (a PV guest starts with its kernel mapped)
    for name in ("ktext", "kdata"):
        sec = image.sections[name]
        if not sec.data:
            continue
        for va, chunk in _pages(sec.base, bytes(sec.data)):
            vm.map_page(va, frame_with(chunk, sec.perms == "rx"), _FLAGS[sec.perms])
    vm.map_page(SAVE_AREA_VA, frame_with(b""), P | RW | NX, kind=PageKind.SAVE)
    # device memory is never mirrored: the mirror of the UART page is a sink frame,
    # unless the lesson on what must not be mirrored asks for the wrong thing
    device_mirror = UART_PA // PAGE if mirror_devices else vm.sink
    vm.map_page(UART_VA, UART_PA // PAGE, P | RW | NX, kind=PageKind.DEVICE,
                mirror_frames=[device_mirror] * vm.copies)

    # the program and its stack: loaded now, mapped by the guest kernel's mmu_update
    requests: list[tuple[int, int]] = []
    for name in ("text", "rodata", "data", "bss"):
        sec = image.sections[name]
        if not sec.data:
            continue
        for va, chunk in _pages(sec.base, bytes(sec.data)):
            requests.append((va, make_pte(frame_with(chunk, sec.perms == "rx"),
                                          _FLAGS[sec.perms])))
    for k in range(STACK_PAGES):
        va = STACK_TOP - (k + 1) * PAGE
        requests.append((va, make_pte(frame_with(b""), P | RW | US | NX)))
    info = struct.pack("<QQ", len(requests), STACK_TOP)
    info += b"".join(struct.pack("<QQ", va, pte) for va, pte in requests)
    pages = [info[i:i + PAGE] for i in range(0, len(info), PAGE)]
    for i, chunk in enumerate(pages):
        vm.map_page(START_INFO_VA + i * PAGE, frame_with(chunk), P | US | NX)
