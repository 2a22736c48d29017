"""The page in a real browser against a real server: keyboard stepping, breakpoints,
and the error-injection button against a mirrored and an unmirrored VM."""

from __future__ import annotations

import pytest

from app.abi import DEFAULT_OFFSET
from app.session import example_source
from tests.browser_helpers import (
    click_blank,
    inject,
    load_program,
    open_solo,
    press,
    shot,
    ue_after_fill,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(server, browser):
    tab = open_solo(browser, server, width=1680, height=1000)
    yield tab.page
    assert tab.close() == []


def current(page) -> tuple[str, list[str]]:
    line = page.locator("#native li.current")
    group = line.get_attribute("data-g")
    members = page.locator(f"#rewritten li.current[data-g='{group}']")
    return line.inner_text(), members.all_inner_texts()


def test_step_by_keyboard_highlights_the_line_and_its_group_then_back(page):
    load_program(page, example_source("sum_array"))
    click_blank(page)
    for _ in range(3):
        press(page, "ArrowRight")
    line3, group3 = current(page)
    assert group3, "the rewritten group is highlighted"
    press(page, "ArrowRight")
    line4, _ = current(page)
    assert line4 != line3
    page.keyboard.press("ArrowLeft")
    wait_js(page, "document.body.dataset.position === '3'")
    assert page.locator("#history-label").inner_text() == "instruction 3 of 4"
    assert current(page) == (line3, group3)
    # the number badge pairs the native line with its group, not colour alone
    badge = page.locator("#native li.current .num").inner_text()
    assert all(badge in m for m in group3)
    shot(page, "step-and-back")


def test_run_to_a_breakpoint_set_by_clicking_a_line(page):
    load_program(page, example_source("sum_array"))
    line = page.locator("#native li.program", has_text="total(%rip)").first
    line.click()
    page.wait_for_selector("#native li.program.breakpoint")
    click_blank(page)
    page.keyboard.press("r")
    wait_js(page, "document.querySelector('#run-status').textContent"
                           ".includes('breakpoint')")
    assert "total(%rip)" in page.locator("#native li.current").inner_text()
    shot(page, "breakpoint")


def test_a_ue_is_survived_by_the_mirrored_vm_and_kills_the_unmirrored(page):
    load_program(page, example_source("sum_array"))
    ue_after_fill(page, 1)
    # the acknowledgement and the snapshot that redraws the host map are two messages
    wait_js(page, "document.querySelectorAll('#hostmap .f.bad').length === 1")
    for _ in range(80):      # step until the sum reads the poisoned word
        press(page, "ArrowRight")
        if page.locator("#log li.n-recovered").count():
            break
    log = page.locator("#log").inner_text()
    assert "machine check" in log and "recovered" in log
    steps = page.locator("#log li.n-recovered .steps li")
    assert steps.count() == 6
    recreated = page.locator("#pt-changes .pt-recreated")
    assert "frame" in recreated.inner_text()
    assert page.locator("#pagetables li.pte.changed").count() >= 1
    shot(page, "recovered")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "overview", full_page=False)   # the README's picture

    inject(page, "ue", "table+16", 2)
    click_blank(page)
    page.keyboard.press("r")
    wait_js(page, "document.querySelector('#run-status').textContent"
                           " && !document.querySelector('#run-status').textContent"
                           ".includes('running')")
    page.wait_for_selector("#log li.n-killed")
    assert "killed" in page.locator("#console").inner_text()
    consoles = page.locator("#console .vm-col").all_inner_texts()
    assert "exit 1240" in consoles[0] and "killed" in consoles[1]
    shot(page, "killed")


def test_an_assembly_error_shows_at_its_line(page):
    page.fill("#source", "main:\n    movl $1, %eax\n    frobnicate %eax\n    ret\n")
    page.click("#btn-load")
    wait_js(page, "document.querySelector('#editor-error').textContent !== ''")
    assert page.locator("#editor-error").inner_text().startswith("line 3:")
    assert page.locator("#gutter .err-line").inner_text().startswith("3")


def test_a_watchpoint_from_the_memory_panel_stops_a_paced_run(page):
    load_program(page, example_source("sum_array"))
    page.fill("#watch-target", "total")
    page.click("#btn-watch")
    page.wait_for_selector("#watch-list li")
    assert "(total)" in page.locator("#watch-list").inner_text()
    page.select_option("#speed", "30")
    page.click("#btn-run")
    wait_js(page, "document.querySelector('#run-status').textContent"
                           ".includes('watchpoint')", timeout=30)
    writes = page.locator("#mem-writes").inner_text()
    assert "native 0xa00000" in writes and f"mirror 1 {0xa00000 + DEFAULT_OFFSET:#x}" in writes
    assert page.locator("#memory .w.written").count() >= 2   # the store and its mirror


def test_nmr3_outvotes_a_silent_flip(page):
    page.select_option("#mirror", "nmr3")
    wait_js(page, "document.querySelectorAll('#memory tr:first-child th').length"
                           " >= 0 && document.querySelector('#inject-vm option') &&"
                           " document.querySelector('#inject-vm').textContent.includes('nmr3')")
    click_blank(page)
    for _ in range(45):
        press(page, "ArrowRight")
    inject(page, "silent", "table+8", 1)
    # the copies now differ (once the snapshot after the acknowledgement has arrived)
    wait_js(page, "document.querySelectorAll('#memory .divergence').length === 1")
    page.keyboard.press("r")
    page.wait_for_selector("#log li.n-vote")
    assert "repaired" in page.locator("#log li.n-vote").first.inner_text()
    wait_js(page, "document.querySelector('#run-status').textContent === 'exited'"
                           " || document.querySelector('#run-status').textContent"
                           ".includes('exited')")
    assert "exit 1240" in page.locator("#console .vm-col").first.inner_text()


def test_a_student_sees_the_instructors_injection_and_the_recovery(server, browser):
    """Two browser contexts: the instructor opens a classroom, a student joins by code;
    the instructor injects a UE and runs; the student's page shows it all."""
    teacher_ctx = browser.new_context(viewport={"width": 1680, "height": 1300})
    student_ctx = browser.new_context(viewport={"width": 1680, "height": 1300})
    errors: list[str] = []
    try:
        t = teacher_ctx.new_page()
        t.on("pageerror", lambda e: errors.append(str(e)))
        t.goto(server.url + "/lessons")
        t.locator("form", has_text="Why memory errors matter").locator("button").click()
        t.wait_for_selector("body[data-role=instructor]")
        code = t.locator("#lesson-code").inner_text()
        assert len(code) == 6

        s = student_ctx.new_page()
        s.on("pageerror", lambda e: errors.append(str(e)))
        s.goto(server.url + "/join")
        s.fill("input[name=code]", code.lower())
        s.click("button[type=submit]")
        s.fill("#join-name", "Ada")
        s.click("#join-form button")
        s.wait_for_selector("body[data-role=student]")
        assert not s.locator("#teach-controls").is_visible()
        assert s.locator("[data-act=fork]").is_visible()
        assert t.locator("#teach-controls").is_visible()
        assert not t.locator("#student-controls").is_visible()
        wait_js(t, "document.querySelector('#roster').textContent.includes('Ada')")

        t.click("[data-act=advance]")            # the lesson's first step: run to fill
        wait_js(s, "document.querySelector('#lesson-progress').textContent"
                            ".startsWith('step 1')")
        assert s.locator("#lesson-checks li.pass").count() >= 1
        for _ in range(40):                        # fill writes the table
            t.click("#btn-step")
        wait_js(s, "document.body.dataset.position === '41'")
        inject(t, "ue", "table+8", 1)
        s.wait_for_selector("#card:not([hidden])")
        assert "Uncorrectable" in s.locator("#card").inner_text()
        t.click("#btn-run")
        s.wait_for_selector("#log li.n-recovered")
        log = s.locator("#log").inner_text()
        assert "machine check" in log and "recovered" in log
        assert s.locator("#log li.n-recovered .steps li").count() == 6
        # following, the student's controls that would change the shared session are
        # disabled with the reason (the server refuses them too: test_classroom.py)
        assert s.locator("#btn-reset").is_disabled()
        assert s.locator("#follow-note").is_visible()
        click_blank(s)
        s.keyboard.press("0")
        s.wait_for_timeout(200)
        assert s.locator("#problem").is_hidden()
        assert s.locator("#log li.n-recovered").count() == 1   # no reset happened
        shot(s, "classroom-student")
        shot(t, "classroom-instructor")
    finally:
        teacher_ctx.close()
        student_ctx.close()
    assert errors == [], errors


def test_the_server_declines_per_message_deflate(server):
    """Compression would cost ~100 µs per client per message (see docs/bench.md)."""
    import websocket
    ws = websocket.create_connection(
        server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        header=["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"])
    try:
        assert "sec-websocket-extensions" not in {k.lower() for k in ws.getheaders()}
        assert ws.recv().startswith("0{")          # the Engine.IO open packet
    finally:
        ws.close()


def test_targets_and_breakpoints_by_keyboard_alone(page):
    load_program(page, example_source("sum_array"))
    page.focus("#hostmap")
    for key in ("ArrowRight", "ArrowRight", "ArrowDown", "Enter"):
        page.keyboard.press(key)
    assert page.input_value("#inject-target") == "frame:0x22"      # 2 right, 1 down (32)
    click_blank(page)
    for _ in range(30):
        press(page, "ArrowRight")
    page.focus("#memory")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.input_value("#inject-target").startswith("0x")
    assert page.input_value("#watch-target") == page.input_value("#inject-target")
    page.focus("#native li.line[tabindex='0']")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#native li.breakpoint")


def test_mirroring_off_and_on_again_keeps_the_twin_asked_for(page):
    # with mirroring off there is one VM and no twin: the box says so, disabled, and
    # keeps its choice, so that mirroring on again brings the twin back
    vms = "document.querySelectorAll('#inject-vm option').length"
    wait_js(page, f"{vms} === 2")
    page.select_option("#mirror", "off")
    wait_js(page, f"{vms} === 1 && document.querySelector('#compare').disabled")
    assert page.is_checked("#compare")
    assert "mirroring is off" in page.get_attribute("#compare", "title")
    page.select_option("#mirror", "on")
    wait_js(page, f"{vms} === 2 && !document.querySelector('#compare').disabled")
    assert page.is_checked("#compare")


def test_a_key_whose_button_is_off_does_nothing_and_a_refusal_moves_no_panel(page):
    panels = "JSON.stringify([...document.querySelectorAll('[data-panel]')].map((p) => " \
             "{ const r = p.getBoundingClientRect(); return [r.top, r.height]; }))"
    click_blank(page)
    sent = page.evaluate("document.body.dataset.seq")
    page.keyboard.press("ArrowLeft")       # at instruction 0: Back is off
    page.wait_for_timeout(400)
    assert page.locator("#problem").is_hidden()
    assert page.evaluate("document.body.dataset.seq") == sent
    # a refusal hangs below the stepping bar, over the panels: nothing moves
    before = page.evaluate(panels)
    page.fill("#offset", "0x12zz")
    page.keyboard.press("Tab")             # the offset is refused
    page.wait_for_selector("#problem:not([hidden])")
    assert page.evaluate(panels) == before
    page.click("#problem")                 # and a click puts it away
    page.wait_for_selector("#problem", state="hidden")
