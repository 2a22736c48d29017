"""Python's cyclic collector paused for a piece of work that makes many objects which
all live on (a load, a boot of its VMs)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_paused = 0
_paused_lock = threading.Lock()
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the work inside. A load makes hundreds of thousands
    of objects that all live until it ends, and every collection pass the allocations
    trigger walks them (and everything else the process holds): a third of a load's
    time, and as much again in the boot after it, to find no garbage. What such work
    leaves behind is bounded by a load's own limits; the collector, back on, takes it.
    Work on several threads shares one pause."""
    global _paused, _resume
    with _paused_lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()
