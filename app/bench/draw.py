"""A step as the page draws it: `kmemvisor bench draw`.

A server (`kmemvisor serve`) runs in its own process; Debian's Chromium (under
Playwright) opens the page at a laptop's and a projector's size and steps the default
example with →, each step timed from the key until the page has drawn every VM's step
(`body[data-seq]`). Side by side, interleaved step by step: the same step's round trip
for a Socket.IO client that draws nothing (another workspace of the same server), so
that what the page adds — applying the events, writing the panels, the browser's
layout and paint — is the difference, measured in the same moments.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from app.bench.roundtrip import Probe, free_port, percentile, serving

CHROMIUM = "/usr/bin/chromium"
SIZES = [(1366, 768), (1920, 1080)]
STEPS = 60
WARMUP = 10


def _press(page) -> float:
    before = int(page.evaluate("document.body.dataset.seq || '0'"))
    t0 = time.perf_counter()
    page.keyboard.press("ArrowRight")
    while int(page.evaluate("document.body.dataset.seq || '0'")) <= before:
        if time.perf_counter() - t0 > 10:
            raise RuntimeError("the page drew no step within 10 s")
    return time.perf_counter() - t0


def _size(browser, url: str, probe: Probe, size: tuple[int, int], steps: int) -> dict:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#connection.ok")
        page.wait_for_selector("#native li.program")
        page.locator("h1").click()   # the keys go to the page, not a control
        drawn, bare = [], []
        for i in range(WARMUP + steps):
            if i % 100 == 0:     # both back at the start, far from the program's end
                page.keyboard.press("0")
                probe.round_trip("reset", {}, 0)
                time.sleep(0.2)
            d = _press(page)
            b = probe.round_trip("step", {}, 2)
            if i % 100 >= WARMUP:
                drawn.append(d)
                bare.append(b)
        return {"size": f"{size[0]}x{size[1]}", "steps": len(drawn),
                "page_p50_ms": percentile(drawn, 50) * 1e3,
                "page_p90_ms": percentile(drawn, 90) * 1e3,
                "socket_p50_ms": percentile(bare, 50) * 1e3,
                "draw_ms": (statistics.median(drawn) - statistics.median(bare)) * 1e3}
    finally:
        context.close()


def measure(port: int = 0, steps: int = STEPS) -> list[dict]:
    from playwright.sync_api import sync_playwright
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    with serving(port):
        probe = Probe(url)
        # the page's own first program, with its unmirrored twin: two VMs a step
        assert probe.client.call("example", {"name": "sum_array"})["ok"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu"])
            try:
                return [_size(browser, url, probe, size, steps) for size in SIZES]
            finally:
                browser.close()


def table(rows: list[dict]) -> str:
    out = [f"A step drawn by the page (Chromium) beside the same step's round trip without "
           f"a page, interleaved, {rows[0]['steps']} steps each",
           f"{'size':10} {'page p50 ms':>12} {'page p90 ms':>12} {'socket p50 ms':>14} "
           f"{'drawing ms':>11}"]
    for r in rows:
        out.append(f"{r['size']:10} {r['page_p50_ms']:12.1f} {r['page_p90_ms']:12.1f} "
                   f"{r['socket_p50_ms']:14.1f} {r['draw_ms']:11.1f}")
    out.append("drawing: the page's median less the bare round trip's (what the page adds)")
    return "\n".join(out)


def main(json_output: bool = False) -> int:
    if not Path(CHROMIUM).exists():
        print(f"bench draw needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
        return 2
    rows = measure()
    print(json.dumps(rows) if json_output else table(rows))
    return 0
