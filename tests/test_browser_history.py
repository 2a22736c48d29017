"""The history as a trace in the page: → after ← replays the recorded future (the
injection included), something new starts a branch and says so, the label counts native
instructions, and the slider marks the moments worth jumping to."""

from __future__ import annotations

import pytest

from tests.browser_helpers import (
    click_blank,
    open_solo,
    press,
    shot,
    step_until_one_survives,
    ue_after_fill,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")


def vm2_status(page) -> str:
    return page.locator("#vm-tabs [data-vm='2']").inner_text()


def log_kinds(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#log li')].map((li) => li.className)")


def test_back_and_forward_replay_an_injection_and_a_new_command_branches(server, browser):
    tab = open_solo(browser, server, width=1920, height=1080)
    page = tab.page
    ue_after_fill(page, 2)       # VM 2 has no mirror: the read kills it
    click_blank(page)
    for _ in range(80):
        press(page, "ArrowRight")
        if page.locator("#log li.n-killed").count():
            break
    assert page.locator("#log li.n-killed").count() == 1
    killed_at = int(page.evaluate("document.body.dataset.position"))
    log_then = log_kinds(page)
    label = page.locator("#history-label").inner_text()
    assert label.startswith("instruction ") and " of " not in label

    # the moments worth jumping to are marked: on the slider and by name
    ticks = page.eval_on_selector_all("#history-ticks option", "os => os.map((o) => o.label)")
    assert any("injection" in t for t in ticks) and any("VM killed" in t for t in ticks)
    names = page.eval_on_selector_all("#history-jump option", "os => os.map((o) => o.textContent)")
    assert any(n.startswith("machine check") or "machine check" in n for n in names), names
    assert any(n.startswith("VM 2: injection · instruction") for n in names), names  # whose

    # back past the injection, then forward again: the same future, injection included
    for _ in range(killed_at - 40):
        press(page, "ArrowLeft")
    assert page.locator("#log li.n-inject").count() == 0
    assert " of " in page.locator("#history-label").inner_text()   # a recorded future
    presses = 0
    while int(page.evaluate("document.body.dataset.position")) < killed_at:
        press(page, "ArrowRight")          # the injection rides along with its step
        presses += 1
    assert presses == killed_at - 40 - 1
    assert int(page.evaluate("document.body.dataset.position")) == killed_at
    assert log_kinds(page) == log_then
    assert "killed" in vm2_status(page) or page.locator("#log li.n-killed").count() == 1

    # jump to the injection by name, then do something new: a branch, said so
    value = page.eval_on_selector("#history-jump", "s => [...s.options]"
                                  ".find((o) => o.textContent.includes('injection')).value")
    page.select_option("#history-jump", value)
    wait_js(page, f"document.body.dataset.position === '{value}'")
    page.locator("#btn-step-rw").click()    # a rewritten step: not what was recorded next
    wait_js(page, "document.querySelector('#run-status').textContent.includes('new branch')")
    assert " of " not in page.locator("#history-label").inner_text()
    shot(page, "history-branch", full_page=False)
    assert tab.close() == []


def test_back_after_a_full_speed_run_steps_one_instruction_back(server, browser):
    """Run at full speed to a watchpoint, then ←: the instruction before the store
    that hit it, not the start of the run; Shift+← goes forward to the store again."""
    tab = open_solo(browser, server, width=1366, height=768)
    page = tab.page
    page.fill("#watch-target", "total")
    page.click("#btn-watch")
    click_blank(page)
    page.keyboard.press("r")
    wait_js(page, "document.querySelector('#run-status').textContent.includes('watchpoint')",
            timeout=30)
    at = int(page.locator("#history-label").inner_text().split()[1].replace(",", ""))
    assert at > 100
    hits = page.locator("#log li.n-watch").count()    # one per VM
    assert hits >= 1
    press(page, "ArrowLeft")
    assert page.locator("#history-label").inner_text() == f"instruction {at - 1} of {at}"
    assert page.locator("#log li.n-watch").count() == 0    # the store has not happened
    press(page, "ArrowLeft")
    assert page.locator("#history-label").inner_text() == f"instruction {at - 2} of {at}"
    press(page, "Shift+ArrowLeft")
    press(page, "Shift+ArrowLeft")
    assert page.locator("#history-label").inner_text() == f"instruction {at}"
    assert page.locator("#log li.n-watch").count() == hits
    assert tab.close() == []


def test_a_jump_to_a_moment_shows_it_as_the_step_there_did(server, browser):
    """Jump to (as a seek, a reload or a shared link) brings the moment's notes: the
    memory panel shows the failed word of the machine check, not an older store."""
    tab = open_solo(browser, server, width=1920, height=1080)
    page = tab.page
    step_until_one_survives(page)
    stepped = page.evaluate("document.querySelector('[data-panel=memory] .spot').textContent")
    assert "machine check" in stepped or "recovery" in stepped, stepped
    at = page.evaluate("document.body.dataset.position")
    for _ in range(30):
        press(page, "ArrowLeft")
    value = page.eval_on_selector("#history-jump", "s => [...s.options]"
                                  ".find((o) => o.textContent.includes('VM killed')).value")
    assert value == at
    page.select_option("#history-jump", value)
    wait_js(page, f"document.body.dataset.position === '{at}'")
    jumped = page.evaluate("document.querySelector('[data-panel=memory] .spot').textContent")
    assert jumped == stepped
    assert tab.close() == []
