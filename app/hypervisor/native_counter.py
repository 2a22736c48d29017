"""Loads the engine's C hooks (blockcount.c, the block counter; storewatch.c, the
watchpoints), compiling each once into a cache directory.

Returns None when no C compiler is available; counting.py then counts in Python and
watch.py watches in Python.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

from unicorn.unicorn_py3.unicorn import uclib


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
                ("odd", Block), ("odd_i0", ctypes.c_uint64)]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmemvisor-lab"


@cache
def library(name: str = "blockcount") -> ctypes.CDLL | None:
    source = resources.files(__package__).joinpath(f"{name}.c").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = _cache_dir() / f"{name}-{digest}.so"
    if not target.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / f"{name}.c"
            src.write_bytes(source)
            out = Path(tmp) / target.name
            try:
                subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(src)],
                               check=True, capture_output=True, timeout=60)
            except (subprocess.SubprocessError, OSError):
                return None
            os.replace(out, target)  # atomic: concurrent builds cannot see half a file
    try:
        return ctypes.CDLL(str(target))
    except OSError:
        return None


def emu_stop_address() -> int:
    return ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value


def hook_add(uc, callback_address: int, user_data: ctypes.Structure, hook_type: int) -> int:
    handle = ctypes.c_size_t()
    status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), hook_type,
                               ctypes.c_void_p(callback_address), ctypes.byref(user_data),
                               ctypes.c_uint64(1), ctypes.c_uint64(0))
    if status != 0:
        raise OSError(f"uc_hook_add failed ({status})")
    return handle.value
