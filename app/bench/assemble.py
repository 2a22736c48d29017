"""Loading a program, measured: `kmemvisor bench assemble`.

A load is what the page does on Ctrl+Enter: parse, rewrite, assemble the native and
the rewritten image, boot the VMs. Each program (gcc -S output of the bench workloads
at -O0 and -O2, and one large generated C program of about 10,000 instructions) is
loaded in this process, first cold for its own text (the caches hold nothing of it)
and then warm (best of a few), and GNU `as` assembles the same text in the same run,
so that the ratio is measured side by side on this noisy machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from app.bench.overhead import GCC, ORDER, compile_workload
from app.session import Session, forget_builds

REPEATS = 5
BIG_FUNCTIONS = 167  # 10,061 instructions at -O0 (120 made 7,231)


def big_program() -> str:
    """A C program of many small functions (loops over arrays, calls, branches), the
    kind of code a student pastes, large enough for a 10,000-instruction load."""
    parts = ["static int data[64];", "static long acc;"]
    for i in range(BIG_FUNCTIONS):
        parts.append(f"""
static int f{i}(int n) {{
    int s = {i};
    for (int k = 0; k < n; k++) {{
        data[(k + {i}) & 63] += k * {i % 7 + 1};
        if (data[k & 63] > {100 + i}) s -= data[k & 63] >> 1; else s += k ^ {i};
    }}
    acc += s;
    return s + (n > 3 ? f{max(i - 1, 0)}(n - 3) * 0 : 0);
}}""")
    calls = " + ".join(f"f{i}(4)" for i in range(0, BIG_FUNCTIONS, 8))
    parts.append(f"int main(void) {{ return ({calls} + (int)acc) & 0xff; }}")
    return "\n".join(parts)


def _compile(source: Path, opt: str, out: Path) -> str:
    target = out / f"{source.stem}{opt}.s"
    flags = [f if f != "-O2" else opt for f in GCC]
    subprocess.run([*flags, "-o", str(target), str(source)], check=True)
    return target.read_text()


def _load(text: str) -> tuple[float, int]:
    forget_builds()  # the whole load, not the shared build of an earlier one
    t = time.perf_counter()
    s = Session(text, "on", compare=True)
    took = time.perf_counter() - t
    return took, len(s.native_addresses())


def _gnu_as(path: Path) -> float | None:
    if shutil.which("as") is None:
        return None
    best = None
    for _ in range(REPEATS):
        t = time.perf_counter()
        subprocess.run(["as", "--64", "-o", "/dev/null", str(path)], check=True,
                       capture_output=True)
        took = time.perf_counter() - t
        best = took if best is None else min(best, took)
    return best


def measure(name: str, text: str, out: Path) -> dict:
    cold, count = _load(text)
    warm = min(_load(text)[0] for _ in range(REPEATS))
    path = out / f"{name}.s"
    path.write_text(text)
    gnu = _gnu_as(path)
    return {"program": name, "instructions": count, "cold_s": cold, "warm_s": warm,
            "us_per_instruction": 1e6 * warm / max(1, count), "gnu_as_s": gnu,
            "ratio": None if gnu is None else warm / gnu}


def bench_assemble() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        big = out / "big_program.c"
        big.write_text(big_program())
        rows.append(measure("big_program-O0", _compile(big, "-O0", out), out))
        for name in ORDER:
            for opt in ("-O0", "-O2"):
                text = compile_workload(name, out) if opt == "-O2" else \
                    _compile_workload_at(name, opt, out)
                rows.append(measure(f"{name}{opt}", text, out))
    return rows


def _compile_workload_at(name: str, opt: str, out: Path) -> str:
    from importlib import resources
    src = resources.files("app.bench").joinpath("workloads", f"{name}.c")
    with resources.as_file(src) as path:
        return _compile(Path(path), opt, out)


def describe(rows: list[dict]) -> str:
    lines = [f"{'program':22} {'instr':>7} {'cold s':>8} {'warm s':>8} {'us/instr':>9} "
             f"{'GNU as s':>9} {'x GNU as':>9}", "-" * 78]
    for r in rows:
        gnu = "-" if r["gnu_as_s"] is None else f"{r['gnu_as_s']:.4f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.0f}"
        lines.append(f"{r['program']:22} {r['instructions']:>7,} {r['cold_s']:>8.3f} "
                     f"{r['warm_s']:>8.3f} {r['us_per_instruction']:>9.0f} {gnu:>9} "
                     f"{ratio:>9}")
    lines.append("a load: parse, rewrite, assemble both images, boot two VMs (mirrored and "
                 f"not); warm: best of {REPEATS} after a first (cold) load of the same text; "
                 "target: <= 50 us an instruction")
    return "\n".join(lines)


def main(json_output: bool = False) -> int:
    rows = bench_assemble()
    print(json.dumps(rows, indent=1) if json_output else describe(rows))
    return 0
