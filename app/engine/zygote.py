"""The process that engine processes are forked from.

Started once (`python -m app.engine.zygote FD`), it imports the engine, builds the
default example once so that the assembler's caches are warm (a new workspace's
first program then needs no assembler process at all), and waits on the socket FD.
For each request it receives one end of a fresh socket pair and a priority, forks,
and answers the child's process id; the child serves its end (host.serve). Forking a
process that has loaded everything costs milliseconds, and the children share the
code's memory with it. It ends when the server's end of FD closes.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys

from app.engine.forking import ANSWER, REQUEST


def _reap(*_args) -> None:
    """Children that ended are reaped here (the zygote is their parent)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _warm() -> None:
    from app.session import DEFAULT_EXAMPLE, Session, example_source, stop_assembler
    Session(example_source(DEFAULT_EXAMPLE), compare=True)
    stop_assembler()  # a child starts its own when it needs one
    gc.collect()
    gc.freeze()  # the collector of a child then leaves these objects' pages shared


def _child(chan: socket.socket, fd: int, nice: int) -> None:
    from multiprocessing.connection import Connection

    from app.engine.host import serve
    chan.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a child waits for its own
    serve(Connection(fd), nice)


def main(fd: int) -> None:
    chan = socket.socket(fileno=fd)
    import app.engine.host  # noqa: F401  (loaded here once, for every child)
    _warm()
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(chan, REQUEST.size, 1)
        except OSError:
            break
        if not message or not fds:
            break
        (nice,) = REQUEST.unpack(message)
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            try:
                _child(chan, fds[0], nice)
            finally:
                os._exit(0)
        os.close(fds[0])
        chan.sendall(ANSWER.pack(pid))
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]))
