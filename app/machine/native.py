"""C hooks for the vCPU (see app/machine/hooks.py for how one is called): each is
compiled once from its source, beside the Python that fills its data, into a cache
directory shared by every process.

A hook is C because a Python call per basic block or per store costs more than the
block or the store. Without a C compiler, `load` gives None and the caller hooks a
Python function doing the same instead.
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


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmemvisor-lab"


@cache
def load(package: str, name: str) -> ctypes.CDLL | None:
    """The library built from `name`.c in `package`, or None when it cannot be built."""
    source = resources.files(package).joinpath(f"{name}.c").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = _cache_dir() / f"{name}-{digest}.so"
    if not target.exists() and not _compile(source, target):
        return None
    try:
        return ctypes.CDLL(str(target))
    except OSError:
        return None


def _compile(source: bytes, target: Path) -> bool:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{target.stem}.c"
        src.write_bytes(source)
        out = Path(tmp) / target.name
        try:
            subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(src)],
                           check=True, capture_output=True, timeout=60)
        except (subprocess.SubprocessError, OSError):
            return False
        os.replace(out, target)  # atomic: concurrent builds cannot see half a file
    return True


def function(library: ctypes.CDLL, name: str) -> int:
    """The address of a hook function of `library`, to add with cpu.add_c_hook."""
    return ctypes.cast(getattr(library, name), ctypes.c_void_p).value
