"""The vCPU's hooks in the machine's own terms: what can be hooked (Hook), how a Python
callback is called, and what a C callback may call back.

Python callbacks are called without the engine: code and block hooks as
`callback(address, size)`, memory hooks as `callback(access, address, size, value)`
(a WATCHED_WRITE hook returns True to let the store through). They ask the vCPU for
registers (`cpu.reg`) and stop it with `cpu.stop()`. They are registered with the
engine's C library directly, one Python frame between it and the callback (the
binding's own hook_add puts two), and an exception in one stops the CPU and is raised
by the run, as the binding does.

A C callback (a function address, see app/machine/native.py for building them) gets the
engine as its first argument, as an opaque pointer, and the data it was added with as
its last. It may read a register with `int C_REG_READ(engine, int id, void *value)`
(C_RIP is RIP's id) and stop the CPU with `int C_STOP(engine)`.
"""

from __future__ import annotations

import ctypes
import enum
from collections.abc import Callable

from unicorn import (
    UC_HOOK_BLOCK,
    UC_HOOK_CODE,
    UC_HOOK_MEM_READ,
    UC_HOOK_MEM_WRITE,
    UC_HOOK_MEM_WRITE_PROT,
    Uc,
    UcError,
)
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib


class Hook(enum.Enum):
    """What a hook is called for (its value is the engine's number for it)."""

    CODE = UC_HOOK_CODE  # in front of each instruction: (address, size)
    BLOCK = UC_HOOK_BLOCK  # in front of each basic block: (address, size)
    READ = UC_HOOK_MEM_READ  # each load: (access, address, size, value)
    WRITE = UC_HOOK_MEM_WRITE  # each store, before it is made
    # a store into a frame mapped without write permission (cpu.watch_frames), before
    # it retires: True lets it through (the engine then discards it: unicorn#2368, the
    # hook makes it), False refuses it and stops the CPU in front of its instruction
    WATCHED_WRITE = UC_HOOK_MEM_WRITE_PROT


def _address(function) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value


C_REG_READ: int = _address(uclib.uc_reg_read)
C_STOP: int = _address(uclib.uc_emu_stop)
C_RIP: int = X.UC_X86_REG_RIP

_ENGINE = ctypes.c_void_p
_ON_CODE = ctypes.CFUNCTYPE(None, _ENGINE, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
_ON_MEMORY = ctypes.CFUNCTYPE(None, _ENGINE, ctypes.c_int, ctypes.c_uint64, ctypes.c_int,
                              ctypes.c_int64, ctypes.c_void_p)
_ON_WATCHED = ctypes.CFUNCTYPE(ctypes.c_bool, _ENGINE, ctypes.c_int, ctypes.c_uint64,
                               ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)


class HookTable:
    """The hooks added to one engine: the C trampolines of Python callbacks are kept
    alive here for as long as their hooks exist."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._kept: dict[int, object] = {}  # handle -> trampoline (None: a C hook)
        self.error: BaseException | None = None  # the first a Python hook raised

    def add(self, kind: Hook, callback: Callable, begin: int, end: int) -> int:
        kind = Hook(kind)  # a member, or the engine's number for one
        trampoline = self._trampoline(kind, callback)
        return self._add(kind, trampoline, None, begin, end, trampoline)

    def add_c(self, kind: Hook, function: int, data: ctypes.Structure) -> int:
        return self._add(Hook(kind), ctypes.c_void_p(function), ctypes.byref(data), 1, 0, None)

    def _add(self, kind: Hook, function, data, begin: int, end: int, keep) -> int:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self._uc._uch, ctypes.byref(handle), kind.value, function,
                                   data, ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status != 0:
            raise UcError(status)
        self._kept[handle.value] = keep
        return handle.value

    def remove(self, handle: int) -> None:
        status = uclib.uc_hook_del(self._uc._uch, ctypes.c_size_t(handle))
        del self._kept[handle]
        if status != 0:
            raise UcError(status)

    def stop(self) -> None:
        uclib.uc_emu_stop(self._uc._uch)

    def take_error(self) -> BaseException | None:
        error, self.error = self.error, None
        return error

    def _failed(self, error: BaseException) -> None:
        if self.error is None:  # the first one is the cause
            self.error = error
        self.stop()

    def _trampoline(self, kind: Hook, callback: Callable):
        failed = self._failed
        if kind in (Hook.CODE, Hook.BLOCK):
            def on_code(_engine, address, size, _data):
                try:
                    callback(address, size)
                except BaseException as e:
                    failed(e)
            return _ON_CODE(on_code)
        if kind is Hook.WATCHED_WRITE:
            def on_watched(_engine, access, address, size, value, _data):
                try:
                    return bool(callback(access, address, size, value))
                except BaseException as e:
                    failed(e)
                    return False
            return _ON_WATCHED(on_watched)

        def on_memory(_engine, access, address, size, value, _data):
            try:
                callback(access, address, size, value)
            except BaseException as e:
                failed(e)
        return _ON_MEMORY(on_memory)
