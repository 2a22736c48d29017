"""Starting and ending engine processes: the zygote (zygote.py) forks them on request.

One zygote per server process, started when the first engine is asked for and again
if it ever dies. A started engine is an `EngineProcess`: its process id and the
server's end of the socket pair it serves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from app.engine.forking import ANSWER, REQUEST
from app.session import SessionError

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60.0   # the zygote's first answer comes after it has warmed up
END_SECONDS = 5.0      # an engine told to end is killed if still there after this


class EngineLost(SessionError):
    """The session's process ended (the emulator crashed, or it was closed)."""


class EngineProcess:
    def __init__(self, pid: int, conn: Connection) -> None:
        self.pid, self.conn = pid, conn

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def end(self) -> None:
        """Tell it to end; kill it if it does not (from any thread, never waits)."""
        with contextlib.suppress(OSError):
            self.conn.send(("exit",))
        self.conn.close()
        threading.Thread(target=self._reap, daemon=True, name="engine-reaper").start()

    def _reap(self) -> None:
        deadline = time.monotonic() + END_SECONDS
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)


class Forker:
    """The server's end of the zygote."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._chan: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the zygote now (it warms up while the server starts), not at the
        first engine."""
        with self._lock:
            self._zygote()

    def fork(self, nice: int) -> EngineProcess:
        """A new engine process (its long work at `nice`)."""
        with self._lock:
            for attempt in range(2):  # a zygote that died is started again, once
                chan = self._zygote()
                mine, theirs = socket.socketpair()
                try:
                    socket.send_fds(chan, [REQUEST.pack(nice)], [theirs.fileno()])
                    pid = ANSWER.unpack(self._read(chan, ANSWER.size))[0]
                except OSError:
                    mine.close()
                    self._stop()
                    if attempt:
                        raise EngineLost("the server cannot start engine processes "
                                         "now; try again in a moment") from None
                    continue
                finally:
                    theirs.close()
                if pid < 0:
                    mine.close()
                    raise EngineLost("the server could not start an engine process "
                                     "(out of processes or memory); try again later")
                return EngineProcess(pid, Connection(mine.detach()))
        raise AssertionError("unreachable")

    def _zygote(self) -> socket.socket:
        if self._proc is None or self._proc.poll() is not None:
            mine, theirs = socket.socketpair()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "app.engine.zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, cwd=str(ROOT))
            theirs.close()
            mine.settimeout(START_SECONDS)
            self._chan = mine
        return self._chan

    @staticmethod
    def _read(chan: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = chan.recv(size - len(data))
            if not chunk:
                raise OSError("the zygote ended")
            data += chunk
        return data

    def _stop(self) -> None:
        if self._chan is not None:
            self._chan.close()
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.wait()
        self._proc = self._chan = None


FORKER = Forker()
