"""A real server (`kmemvisor serve`) in a subprocess and Debian's Chromium under
Playwright. Browsers cannot be downloaded here: Chromium comes from apt."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("KMV_REQUIRE_BROWSER"):
            raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`kmemvisor serve` on a free port, as users run it (with its strict
    Content-Security-Policy: an inline script or style attribute fails the tests)."""

    def __init__(self, *args: str) -> None:
        import tempfile
        self.tmp = tempfile.TemporaryDirectory()
        args = ("--database", f"{self.tmp.name}/classrooms.sqlite3", *args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(f"{self.tmp.name}/server.log", "w")  # noqa: SIM115 (lives as long as the server)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, text=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("server died: " + Path(self.log.name).read_text()) from None
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        self.tmp.cleanup()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_js(page, expression: str, timeout: float = 10.0):
    """Poll a JavaScript expression until it is truthy. Playwright's wait_for_function
    compiles its predicate with eval inside the page, which the strict CSP forbids; an
    evaluate from the test is not subject to the page's policy."""
    end = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.02)


AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it is (injected by evaluate: CSP-proof)."""
    if not AXE.is_file():
        raise RuntimeError(f"{AXE} is missing: run ./scripts/setup (npm ci)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(r"""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
            v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " " + (n.failureSummary || "")
                .replace(/\s+/g, " ").slice(0, 160)).join(" | "));
    }""")
    return found


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


# -- the page, as the browser tests drive it -------------------------------------------

SIZES = [(1280, 720), (1366, 768), (1536, 864), (1920, 1080)]


class Tab:
    """A page in its own browser context, collecting script errors and CSP violations
    (the test server sends the strict policy, so an inline script or a style attribute
    shows up here)."""

    def __init__(self, browser, url: str, width: int = 1680, height: int = 1000,
                 scale: float = 1.0) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           device_scale_factor=scale)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and "Content Security Policy" in m.text else None)
        self.page.goto(url)

    def close(self) -> list[str]:
        self.context.close()
        return self.errors


def open_solo(browser, server, **kw) -> Tab:
    tab = Tab(browser, server.url + "/", **kw)
    tab.page.wait_for_selector("#connection.ok")
    tab.page.wait_for_selector("#native li.program")
    return tab


def seq(page) -> int:
    return int(page.evaluate("document.body.dataset.seq || '0'"))


def press(page, key: str) -> None:
    """Press a key and wait until the page has drawn the answer (all VMs at once)."""
    before = seq(page)
    page.keyboard.press(key)
    wait_js(page, f"Number(document.body.dataset.seq) > {before}")


def click_blank(page) -> None:
    """Give the focus to the page itself (a click on the title bar's heading)."""
    page.locator("h1").click()


def load_program(page, source: str) -> None:
    page.fill("#source", source)
    before = seq(page)
    page.keyboard.press("Control+Enter")
    wait_js(page, f"Number(document.body.dataset.seq) !== {before} || "
            "document.querySelector('#native li.current') !== null")
    wait_js(page, "document.querySelector('#editor-error').textContent === ''")


def inject(page, kind: str, target: str, vm: int) -> None:
    page.check(f"#inject-kinds input[value={kind}]")
    page.fill("#inject-target", target)
    page.select_option("#inject-vm", str(vm))
    page.click("#btn-inject")
    wait_js(page, "document.querySelector('#inject-result').textContent.includes('injected')")


def ue_after_fill(page, vm: int, steps: int = 45) -> None:
    """sum_array: step by keyboard until fill has written the table, then a UE in that
    VM's table+8 (VM 2 has no mirror: its next read of it kills it)."""
    click_blank(page)
    for _ in range(steps):
        press(page, "ArrowRight")
    inject(page, "ue", "table+8", vm)


def step_until_one_survives(page) -> None:
    """sum_array: one UE in table+8 of both VMs after fill, then steps until the
    unmirrored VM is killed by it (the mirrored one recovers from the same error)."""
    ue_after_fill(page, 1)
    inject(page, "ue", "table+8", 2)
    click_blank(page)
    for _ in range(80):
        press(page, "ArrowRight")
        if page.locator("#log li.n-killed").count():
            return
    raise AssertionError("VM 2 was not killed within 80 steps")


def step_until_recovered(page, steps: int = 45) -> None:
    """sum_array: let fill write the table, a UE in VM 1's table+8, step to the recovery."""
    ue_after_fill(page, 1, steps)
    wait_js(page, "document.querySelectorAll('#hostmap .f.bad').length === 1")
    click_blank(page)
    for _ in range(80):
        press(page, "ArrowRight")
        if page.locator("#log li.n-recovered").count():
            return
    raise AssertionError("no recovery within 80 steps")


def assert_axe_clean(page, where: str) -> None:
    found = axe_violations(page)
    assert found == [], f"axe-core on {where}:\n" + "\n".join(found)
