"""Fan-out: one instructor stepping while many students follow, over real Socket.IO.

The server (`kmemvisor serve`) runs in its own process and the clients in another
(Node.js, with the same socket.io-client the browser uses, installed by npm at
set-up). For each step: the time from the instructor's command until the last
student has the step event. Measured side by side in the same run: the same with a
single student, so the ratio shows what the crowd costs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from app.bench.http import open_classroom
from app.bench.roundtrip import serving

SCRIPT = Path(__file__).with_name("fanout.js")
LESSON = "01-why-mirror"
STEPS = 150


def fan_out(base: str, students: int) -> dict:
    code, key = open_classroom(base, LESSON)
    out = subprocess.run(["node", str(SCRIPT), base, code, key, str(students), str(STEPS)],
                         capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or "the load process failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(json_output: bool = False, port: int = 5174, students: int = 200) -> int:
    if shutil.which("node") is None:
        print("node is needed for the load process (it drives socket.io-client)")
        return 1
    with serving(port):
        base = f"http://127.0.0.1:{port}"
        rows = [fan_out(base, 1), fan_out(base, students)]
    if json_output:
        print(json.dumps(rows))
        return 0
    print(f"Fan-out of an instructor's step over Socket.IO, {STEPS} steps each "
          "(until the last student has the event)")
    print(f"{'students':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in rows:
        print(f"{r['students']:8d} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['max_ms']:8.2f}")
    print("target: p95 <= 30 ms with 200 students")
    return 0
