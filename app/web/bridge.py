"""Between the connections and the engine.

Every connection lives on one thread as a greenlet (gevent, no monkey-patching), so a
thousand open tabs cost a thousand greenlets, not four thousand threads fighting over
the interpreter. The engine runs on real threads (the scheduler's). Two rules keep the
two worlds apart:

* a greenlet never blocks its thread: it waits for engine work with `wait`, which
  yields to the other connections until the result is there;
* an engine thread never touches the Socket.IO server (its queues belong to the
  connections' thread): it hands such work over with `soon`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as Timeout

import gevent
from gevent.event import AsyncResult


class Bridge:
    def __init__(self) -> None:
        self.hub = gevent.get_hub()
        self.thread = threading.get_ident()

    def here(self) -> bool:
        """Whether the caller is on the connections' thread."""
        return threading.get_ident() == self.thread

    def wait(self, future: Future, timeout: float | None = None):
        """The future's result; on the connections' thread, without blocking it."""
        if not self.here():
            return future.result(timeout)
        done = AsyncResult()
        loop = self.hub.loop
        future.add_done_callback(lambda f: loop.run_callback_threadsafe(done.set, f))
        try:
            finished = done.get(timeout=timeout)
        except gevent.Timeout:
            raise Timeout() from None
        return finished.result()

    def soon(self, fn: Callable, *args) -> None:
        """Run `fn(*args)` on the connections' thread (at once if already there)."""
        if self.here():
            fn(*args)
        else:
            self.hub.loop.run_callback_threadsafe(fn, *args)
