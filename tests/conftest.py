"""Shared helpers: compile C with gcc at test time, run programs headless."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.examples import source
from app.session import Session
from app.session.headless import run_program

HERE = Path(__file__).parent
C_DIR = HERE / "programs" / "c"
ASM_DIR = HERE / "programs" / "asm"
GCC_FLAGS = ["-fno-pic", "-ffreestanding", "-fno-asynchronous-unwind-tables",
             "-fno-stack-protector", "-std=gnu11", "-w"]

HARNESS = """
#undef main
#include <stdio.h>
int guest_main(void);
int main(void) { printf("%d\\n", guest_main()); return 0; }
"""


def gcc_available() -> bool:
    return shutil.which("gcc") is not None


needs_gcc = pytest.mark.skipif(not gcc_available(), reason="gcc is not installed")


def compile_to_asm(c_file: Path, opt: str, out_dir: Path, *extra: str) -> str:
    out = out_dir / f"{c_file.stem}{opt}{''.join(extra)}.s"
    subprocess.run(["gcc", "-S", opt, *GCC_FLAGS, *extra, "-o", str(out), str(c_file)],
                   check=True)
    return out.read_text()


def host_result(c_file: Path, opt: str, out_dir: Path) -> int:
    harness = out_dir / "harness.c"
    harness.write_text(HARNESS)
    exe = out_dir / f"{c_file.stem}{opt}.host"
    subprocess.run(["gcc", opt, "-w", "-Dmain=guest_main", "-o", str(exe), str(c_file),
                    str(harness)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1])


def run(source: str, mirror: str = "on", **kw) -> dict:
    return run_program(source, mirror, kw.pop("offset", 0x8000000),
                       kw.pop("max_steps", 5_000_000), kw.pop("inject", []))


# a session's story, for the tests of errors and recovery
SUM_ARRAY = source("sum_array")   # fills `table`, sums it, returns 1240
AFTER_FILL = 117                  # native instructions until the table is filled


def notes_of(s: Session, kind: str) -> list[dict]:
    return [n for n in s.hv.log if n["kind"] == kind]


def finish(s: Session) -> dict:
    s.run()
    return s.result()


# -- the browser tests' server and Chromium, one of each per test module ------------

@pytest.fixture(scope="module")
def server():
    """`kmemvisor serve` in a subprocess (tests/browser_helpers.py)."""
    from tests.browser_helpers import Server, need_chromium
    need_chromium()
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright."""
    from tests.browser_helpers import launch, need_chromium
    need_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
