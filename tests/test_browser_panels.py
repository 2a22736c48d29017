"""What the panels tell after each kind of event: the memory panel following the story
(a run's recovery, a watchpoint stop, go to, byte/ASCII/decimal views, every NMR-3 copy),
the page-table panel after a long run, the explanation card, a failed load, group
numbers and the log's wording per VM mode."""

from __future__ import annotations

import pytest

from app.session import example_source
from tests.browser_helpers import (
    click_blank,
    load_program,
    open_solo,
    press,
    shot,
    ue_after_fill,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")

TABLE_8 = 0xA00008   # sum_array's table+8


@pytest.fixture
def page(server, browser):
    tab = open_solo(browser, server, width=1920, height=1080)
    yield tab.page
    assert tab.close() == []


def run_to_end(page) -> None:
    click_blank(page)
    page.keyboard.press("r")
    wait_js(page, "!document.querySelector('#run-status').textContent.includes('running')"
            " && document.querySelector('#run-status').textContent !== ''", timeout=30)


def test_after_a_full_speed_run_the_memory_panel_shows_the_recovery(page):
    ue_after_fill(page, 1)
    wait_js(page, "document.querySelectorAll('#hostmap .f.bad').length === 1")
    # the injection itself: the card, away from the log, one Tab from its Close
    page.wait_for_selector("#card:not([hidden])")
    card = page.locator("#card").bounding_box()
    out = page.locator("[data-panel=console]").bounding_box()
    assert card["x"] + card["width"] <= out["x"] or card["x"] >= out["x"] + out["width"]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Close"
    page.keyboard.press("Escape")
    assert page.locator("#card").is_hidden()
    assert page.locator(f"#memory .spot-word[data-va='{TABLE_8}']").count() == 1
    assert "injected UE" in page.locator("#mem-writes").inner_text()
    run_to_end(page)
    wait_js(page, "document.querySelector('#log li.n-recovered')")
    assert "No store" not in page.locator("#mem-writes").inner_text()
    assert page.locator(f"#memory .spot-word[data-va='{TABLE_8}']").count() == 1
    assert "recovery rebuilt" in page.locator("#mem-writes").inner_text()
    # the walk follows the rebuilt page, its mirror entry scrolled into the tree's view
    assert "0xa00008" in page.locator("#walk").inner_text()
    inside = page.evaluate("""() => {
        const box = document.querySelector('#pagetables').getBoundingClientRect();
        const pte = document.querySelector('#pagetables .pte.PT.walk-mirror > .lvl')
          .getBoundingClientRect();
        return pte.top >= box.top && pte.bottom <= box.bottom; }""")
    assert inside


def test_a_watchpoint_stop_at_full_speed_shows_the_watched_word(page):
    page.fill("#watch-target", "total")
    page.click("#btn-watch")
    page.wait_for_selector("#watch-list li")
    run_to_end(page)
    wait_js(page, "document.querySelector('#run-status').textContent.includes('watchpoint')")
    total = page.evaluate("Number(document.querySelector('#watch-list button').dataset.va)")
    spot = page.locator("#memory .spot-word")
    assert spot.count() == 1
    assert int(spot.get_attribute("data-va")) == total - total % 8
    assert "watchpoint" in page.locator("#mem-writes").inner_text()
    # the log says which store hit it
    wait_js(page, "[...document.querySelectorAll('#log li')].some((li) =>"
                  " li.textContent.includes('watchpoint') && li.textContent.includes('hit'))")


def test_after_a_plain_run_the_memory_panel_shows_what_it_changed_also_after_a_reload(page):
    run_to_end(page)
    said = page.locator("#mem-writes").inner_text()
    assert "a word the last run changed" in said and "No store" not in said
    assert page.locator("#memory .spot-word").count() == 1
    assert "No store" not in page.locator("#walk").inner_text()
    page.reload()                    # a fresh page draws it from the snapshot alone
    page.wait_for_selector("#native li.program")
    wait_js(page, "document.querySelector('#mem-writes').textContent"
                  ".includes('a word the last run changed')")


def test_an_error_in_the_unmirrored_vm_is_followed_there_and_said_consumed(page):
    ue_after_fill(page, 2)
    # the memory panel goes where the story is: VM 2
    wait_js(page, "document.querySelector('#vm-tabs [aria-selected=true]').dataset.vm === '2'")
    assert "injected UE" in page.locator("#mem-writes").inner_text()
    assert page.locator("#mem-h").inner_text() == "4 · Memory of VM 2, unmirrored"
    click_blank(page)
    for _ in range(80):
        press(page, "ArrowRight")
        if page.locator("#log li.n-killed").count():
            break
    wait_js(page, "document.querySelector('#host-bad').textContent.includes('consumed')")
    assert "pending" not in page.locator("#host-bad").inner_text()
    assert "This VM has no mirror" in page.locator("#memory").inner_text()  # VM 2 has none
    page.click("#vm-tabs [data-vm='1']")
    # the tab redraws on the next animation frame, not within the click
    wait_js(page, "!document.querySelector('#memory').innerText.includes('This VM has no mirror')")
    assert page.locator("#mem-h").inner_text() == "4 · Memory of VM 1, mirrored"


def test_go_to_and_the_views_of_a_word(page):
    click_blank(page)
    for _ in range(45):
        press(page, "ArrowRight")
    page.fill("#watch-target", "table+8")
    page.keyboard.press("Enter")                     # Enter is Go, not Watch
    assert page.locator("#watch-list li").count() == 0
    assert page.locator(f"#memory .spot-word[data-va='{TABLE_8}']").count() == 1
    hex_word = page.locator(f"#memory .spot-word[data-va='{TABLE_8}']").inner_text()
    assert hex_word.endswith("0000000400000001")     # table[2] = 1, table[3] = 4
    page.select_option("#mem-view", "bytes")
    page.locator("h1").click()
    row = page.locator(f"#memory .b[data-va='{TABLE_8}']")
    assert row.inner_text() == "01"
    assert page.locator(f"#memory .b[data-va='{TABLE_8 + 4}']").inner_text() == "04"
    page.select_option("#mem-view", "unsigned")
    assert page.locator(f"#memory .spot-word[data-va='{TABLE_8}']").inner_text() == str(4 << 32 | 1)
    page.select_option("#mem-view", "signed")
    page.select_option("#mem-view", "ascii")
    assert len(page.locator(f"#memory .spot-word[data-va='{TABLE_8}']").inner_text()) == 8
    # a byte picked in the byte view is its own target
    page.select_option("#mem-view", "bytes")
    page.locator(f"#memory .b[data-va='{TABLE_8 + 4}']").click()
    assert page.input_value("#inject-target") == hex(TABLE_8 + 4)
    # ... and a silent error aimed at its bit 5 flips exactly that bit (4 -> 36)
    page.check("#inject-kinds input[value=silent]")
    page.select_option("#inject-bit", "5")
    page.select_option("#inject-vm", "2")
    page.click("#btn-inject")
    wait_js(page, "document.querySelector('#inject-result').textContent.includes('injected')")
    assert f"va {hex(TABLE_8 + 4)}, bit 5 (machine" in page.locator("#log").inner_text()
    wait_js(page, "document.querySelector('#vm-tabs [data-vm=\"2\"]') !== null")
    page.click("#vm-tabs [data-vm='2']")
    wait_js(page, f"(document.querySelector(\"#memory .b[data-va='{TABLE_8 + 4}']\") || {{}})"
            ".textContent === '24'")


def test_nmr3_shows_every_copy_and_a_long_run_is_summarised(page):
    page.select_option("#mirror", "nmr3")
    wait_js(page, "document.querySelector('#inject-vm').textContent.includes('nmr3')")
    click_blank(page)
    for _ in range(30):
        press(page, "ArrowRight")
    text = page.locator("#memory").inner_text()
    assert "native" in text and "mirror 1" in text and "mirror 2" in text
    # every copy's word is inside the panel, not cut off on the right
    clipped = page.evaluate("""() => {
        const box = document.querySelector('#memory').getBoundingClientRect();
        return [...document.querySelectorAll('#memory .w')].slice(0, 12)
          .some((w) => w.getBoundingClientRect().right > box.right + 1); }""")
    assert not clipped
    shot(page, "nmr3-memory", full_page=False)
    # a reset asks first: declined, nothing changes; accepted, the start again
    page.once("dialog", lambda d: d.dismiss())
    at = page.evaluate("document.body.dataset.position")
    page.click("#btn-reset")
    page.wait_for_timeout(200)
    assert page.evaluate("document.body.dataset.position") == at != "0"
    page.once("dialog", lambda d: d.accept() if "cannot be gone back to" in d.message
              else d.dismiss())
    page.click("#btn-reset")
    wait_js(page, "document.body.dataset.position === '0'")
    height = page.locator("[data-panel=pagetables]").bounding_box()["height"]
    press(page, "ArrowRight")                          # the kernel's first mmu_update
    for _ in range(40):
        press(page, "ArrowRight")
        if page.locator("#pt-changes summary").count():
            break
    summary = page.locator("#pt-changes summary").inner_text()
    assert "PTEs created" in summary, summary
    assert page.locator("#pt-changes details[open]").count() == 0
    assert page.locator("[data-panel=pagetables]").bounding_box()["height"] == height


def test_a_failed_load_marks_the_old_listing_where_it_is_seen(page):
    page.fill("#source", "main:\n    movl $1, %eax\n    frobnicate %eax\n    ret\n")
    page.click("#btn-load")
    page.wait_for_selector("#stale:not([hidden])")
    for sel in ("#stale", "#problem", "#editor-error"):
        box = page.locator(sel).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 1080, (sel, box)
    assert "line 3" in page.locator("#stale").inner_text()
    assert page.locator(".code-panel.is-stale").count() == 1
    load_program(page, example_source("sum_array"))
    page.wait_for_selector("#stale", state="hidden")
    assert page.locator(".code-panel.is-stale").count() == 0


def test_program_groups_count_from_one_and_the_log_speaks_per_mode(page):
    first = page.locator("#native li.program .num").first.inner_text()
    assert first == "#1"
    page.check("#show-kernel")
    assert page.locator("#native li.kernel .num").first.inner_text() == "#k1"
    click_blank(page)
    for _ in range(25):
        press(page, "ArrowRight")
    notes = page.locator("#log li.n-mmu_update").all_inner_texts()
    vm1 = [n for n in notes if "VM 1" in n[:6]]
    vm2 = [n for n in notes if "VM 2" in n[:6]]
    assert vm1 and all("mirror PTEs" in n for n in vm1)
    assert vm2 and not any("mirror" in n for n in vm2)


def test_a_click_in_the_host_map_leaves_the_arrows_stepping_a_tab_there_gives_them_to_it(page):
    from tests.browser_helpers import seq
    page.locator("#hostmap .f").nth(600).click()
    before = seq(page)
    page.keyboard.press("ArrowRight")
    wait_js(page, f"Number(document.body.dataset.seq) > {before}")
    page.focus("#inject-target")               # then by keyboard, as a keyboard user would
    while not page.evaluate("document.activeElement.id === 'hostmap'"):
        page.keyboard.press("Tab")
    info = page.locator("#host-info").inner_text()
    now = seq(page)
    page.keyboard.press("ArrowRight")
    wait_js(page, f"document.querySelector('#host-info').textContent !== {info!r}")
    assert seq(page) == now                    # the cursor moved; nothing stepped


def test_a_step_brings_the_code_back_after_the_area_was_scrolled_to_the_injection(server,
                                                                                   browser):
    tab = open_solo(browser, server, width=1366, height=768)
    page = tab.page
    try:
        page.evaluate("document.querySelector('#main').scrollTop = 1e6")  # to panel 8
        scrolled = page.evaluate("document.querySelector('#main').scrollTop")
        page.click("#btn-inject")             # injected with the mouse, down there
        click_blank(page)
        for _ in range(3):
            press(page, "ArrowRight")
        box = page.locator("#native li.current").bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768, box
        assert page.evaluate("window.scrollY") == 0
        if scrolled:                          # the area itself moved, not the window
            assert page.evaluate("document.querySelector('#main').scrollTop") < scrolled
    finally:
        assert tab.close() == []


# which of the panels' nodes a step replaced: each element seen before is tagged, and
# afterwards the tags still in the page are counted
TAG = """() => { let n = 0;
  for (const sel of ['#hostmap .f', '#pt-tree *', '#regs .other *']) {
    for (const el of document.querySelectorAll(sel)) { el.dataset.kept = '1'; n++; } }
  return n; }"""
KEPT = """() => Object.fromEntries(['#hostmap .f', '#pt-tree *', '#regs .other *'].map((sel) =>
  [sel, [...document.querySelectorAll(sel)].every((el) => el.dataset.kept === '1')]))"""


def test_a_step_redraws_only_what_it_changed(page):
    """A step that maps no frame and changes no page table leaves the host map's 2,048
    cells, the page-table tree and the registers it did not touch as they were (the same
    nodes: nothing new for the browser to lay out), and still draws what it changed; an
    injection then repaints only its frame's cell."""
    click_blank(page)
    for _ in range(30):           # past the boot: sum_array's fill loop maps nothing new
        press(page, "ArrowRight")
    assert page.evaluate(TAG) > 2048
    regs = page.locator("#regs .main").inner_text()
    press(page, "ArrowRight")
    assert page.evaluate(KEPT) == {"#hostmap .f": True, "#pt-tree *": True,
                                   "#regs .other *": True}
    assert page.locator("#regs .main").inner_text() != regs   # %rip's neighbours moved on
    cells = page.locator("#hostmap .f").count()
    page.check("#inject-kinds input[value=ue]")
    page.fill("#inject-target", "table+8")
    page.click("#btn-inject")
    wait_js(page, "document.querySelectorAll('#hostmap .f.bad').length === 1")
    kept = page.evaluate("() => [...document.querySelectorAll('#hostmap .f')]"
                         ".filter((el) => el.dataset.kept === '1').length")
    assert page.locator("#hostmap .f").count() == cells and kept == cells


PRINTS = """    .text
    .globl main
main:
    pushq %rbx
    movl $12, %ebx
1:  leaq line(%rip), %rdi
    call puts
    subl $1, %ebx
    jne 1b
    leaq last(%rip), %rdi
    call puts
    popq %rbx
    xorl %eax, %eax
    ret
    .section .rodata
line: .asciz "a line of output"
last: .asciz "the last line"
"""

# each console: whether it holds more than it shows, and whether its end is on view
CONSOLES = """() => [...document.querySelectorAll('#console .console-out')].map((out) =>
  ({overflows: out.scrollHeight > out.clientHeight + 1,
    end: out.scrollTop + out.clientHeight >= out.scrollHeight - 1,
    text: out.textContent.slice(-20)}))"""


def test_a_console_shows_its_newest_output_as_a_terminal_does(page):
    load_program(page, PRINTS)
    run_to_end(page)
    wait_js(page, "document.querySelector('#console').textContent.includes('the last line')")
    seen = page.evaluate(CONSOLES)
    assert len(seen) == 2 and all(c["overflows"] and c["end"] for c in seen), seen
