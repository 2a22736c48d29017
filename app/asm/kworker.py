"""Keystone in its own process: it aborts the whole process on some ordinary inputs.

Protocol (stdin/stdout, one JSON document per line): the parent sends a list of
[text, address] pairs; the worker answers one line per pair, in order, flushing each,
so that when it dies the parent knows exactly which instruction killed it. Each answer
carries the worker's processor time so far ("cpu"), which the parent charges to the
load that asked.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    from keystone import KS_ARCH_X86, KS_MODE_64, KS_OPT_SYNTAX_ATT, Ks, KsError

    out = sys.stdout
    for line in sys.stdin:
        for text, address in json.loads(line):
            # a fresh engine each time: a reused one keeps a pointer into the previous
            # input and segfaults on the next warning
            ks = Ks(KS_ARCH_X86, KS_MODE_64)
            ks.syntax = KS_OPT_SYNTAX_ATT
            try:
                encoding, _ = ks.asm(text, address)
                reply = {"ok": bytes(encoding or b"").hex()}
            except KsError as e:
                reply = {"err": str(e), "errno": e.errno}
            reply["cpu"] = time.process_time()
            out.write(json.dumps(reply) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
