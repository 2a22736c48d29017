"""Client of the isolated Keystone worker, with a cache shared by all assemblies.

A worker crash or hang is charged to the instruction it was encoding; the worker is
restarted and the remaining instructions go on.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from functools import lru_cache

from keystone import KS_ERR_ASM_INVALIDOPERAND, KS_ERR_ASM_MNEMONICFAIL, KS_ERR_ASM_SYMBOL_MISSING

from app.asm.budget import LoadBudget

_TIMEOUT_S = 10.0
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kworker.py")
# encodings kept for the next assemblies (the rewritten program repeats most of the
# native one's): bounded, the oldest go first, since every load adds its own
_CACHE_ENTRIES = 1 << 16
_MISSING = object()


# mnemonics whose encoding depends on where the instruction is (a target Keystone
# turns into a displacement); every other request is sent with its RIP-relative
# displacement already worked out, so its bytes are the same at any address
_RELATIVE = ("j", "call", "loop", "xbegin")


@lru_cache(maxsize=1 << 16)  # asked for every instruction of every pass
def address_free(text: str) -> bool:
    """Whether Keystone's bytes for `text` are the same at every address (all but the
    relative transfers it works a displacement out for)."""
    mnemonic = next((w for w in text.split() if w not in _PREFIXES), "")
    return not mnemonic.startswith(_RELATIVE)


def _key(request: tuple[str, int]) -> tuple[str, int | None]:
    """The cache key of a (text, address) request: the text alone when the bytes
    cannot depend on the address (most instructions, in every layout pass)."""
    text, address = request
    return (text, None) if address_free(text) else (text, address)


_PREFIXES = frozenset({"lock", "rep", "repe", "repz", "repne", "repnz", "data16", "addr32",
                       "notrack", "bnd", "cs", "ds", "es", "fs", "gs", "ss"})


class EncodeFailure(Exception):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def _explain(reply: dict, text: str) -> str:
    errno = reply.get("errno")
    mnemonic = text.split()[0] if text.split() else text
    if errno == KS_ERR_ASM_MNEMONICFAIL:
        return f"unknown mnemonic or unsupported operand combination: '{mnemonic}'"
    if errno == KS_ERR_ASM_INVALIDOPERAND:
        return f"bad operand in '{text}'"
    if errno == KS_ERR_ASM_SYMBOL_MISSING:
        return f"undefined symbol in '{text}'"
    return f"cannot encode '{text}' ({reply.get('err')})"


class Encoder:
    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._pid = os.getpid()  # the process the worker belongs to
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], bytes] = {}
        self._buf = b""
        self._worker_cpu = 0.0  # the worker's processor time at its last answer

    def _start(self) -> subprocess.Popen:
        if self._pid != os.getpid():  # a forked copy: the worker is its parent's
            self._proc, self._pid = None, os.getpid()
        if self._proc is None or self._proc.poll() is not None:
            env = dict(os.environ, PYTHONFAULTHANDLER="")
            # run as a file, not a module of the package: it then imports Keystone
            # alone (a quarter of the start-up time and half the memory)
            self._proc = subprocess.Popen(
                [sys.executable, _WORKER], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
            self._buf = b""
            self._worker_cpu = 0.0
        return self._proc

    def stop(self) -> None:
        """End the worker (the next encoding starts another); the cache stays."""
        with self._lock:
            if self._proc is not None and self._pid == os.getpid():
                self._proc.stdin.close()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def _readline(self, proc: subprocess.Popen) -> bytes | None:
        fd = proc.stdout.fileno()
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], _TIMEOUT_S)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def encode(self, requests: list[tuple[str, int]],
               budget: LoadBudget | None = None) -> list[bytes]:
        """Encode (text, address) pairs; raise EncodeFailure naming the first bad one.
        The worker's processor time for them is charged to `budget`."""
        with self._lock:
            keys = [_key(r) for r in requests]
            results: list = [self._cache.get(k, _MISSING) for k in keys]
            todo = [i for i, r in enumerate(results) if r is _MISSING]
            while todo:
                proc = self._start()
                batch = [list(requests[i]) for i in todo]
                try:
                    proc.stdin.write((json.dumps(batch) + "\n").encode())
                    proc.stdin.flush()
                except BrokenPipeError:
                    self._kill()
                    continue
                for done, i in enumerate(todo):
                    line = self._readline(proc)
                    if line is None:
                        self._kill()
                        text = requests[i][0]
                        raise EncodeFailure(i, f"the assembler crashed on '{text}' (the "
                                            "encoder process died; nothing else was lost)")
                    reply = json.loads(line)
                    self._account(reply, budget)
                    if "err" in reply:
                        # drain the rest of this batch so the worker stays in step
                        for _ in todo[done + 1:]:
                            drained = self._readline(proc)
                            if drained is None:
                                self._kill()
                                break
                            self._account(json.loads(drained), budget)
                        raise EncodeFailure(i, _explain(reply, requests[i][0]))
                    results[i] = bytes.fromhex(reply["ok"])
                    self._remember(keys[i], results[i])
                todo = []
            return results

    def _account(self, reply: dict, budget: LoadBudget | None) -> None:
        cpu = reply.get("cpu", self._worker_cpu)
        if budget is not None:
            budget.charge(cpu - self._worker_cpu)
        self._worker_cpu = cpu

    def _remember(self, key: tuple[str, int | None], encoding: bytes) -> None:
        self._cache[key] = encoding
        if len(self._cache) > _CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]

    def close(self) -> None:
        with self._lock:
            self._kill()


ENCODER = Encoder()
