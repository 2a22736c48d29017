"""The hypervisor's C hooks (blockcount.c, the block counter; storewatch.c, the
watchpoints; voteread.c, NMR-3's read hook), built by the machine's loader, and the
block counter's data as blockcount.c lays it out.

`library` gives None when no C compiler is available; counting.py then counts in
Python, watch.py and voting.py hook Python functions.
"""

from __future__ import annotations

import ctypes

from app.machine import native


class Region(ctypes.Structure):
    _fields_ = [("base", ctypes.c_uint64), ("span", ctypes.c_uint64),
                ("index", ctypes.POINTER(ctypes.c_uint32))]


class Block(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("size", ctypes.c_uint32), ("i1", ctypes.c_uint32),
                ("hits", ctypes.c_uint64), ("native", ctypes.c_uint64)]


class Counter(ctypes.Structure):
    _fields_ = [("nregions", ctypes.c_uint64), ("left", ctypes.c_int64),
                ("blocks", ctypes.POINTER(Block)), ("last", ctypes.c_void_p),
                ("regions", Region * 4),
                ("cum", ctypes.POINTER(ctypes.c_uint64)), ("counts", ctypes.c_uint64 * 4),
                ("stopped_for_budget", ctypes.c_uint64), ("emu_stop", ctypes.c_void_p),
                ("seen", ctypes.POINTER(ctypes.c_uint32)), ("nseen", ctypes.c_uint64),
                ("odd", Block), ("odd_i0", ctypes.c_uint64), ("inside", ctypes.c_uint64)]


def library(name: str = "blockcount") -> ctypes.CDLL | None:
    """This package's C hook `name`, built once (None without a compiler)."""
    return native.load(__package__, name)
