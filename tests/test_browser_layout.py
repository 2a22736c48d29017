"""The page at the sizes of a lecture hall's projector and a student's laptop: it fits,
stepping never moves the window, presentation mode, the keys after a dropdown choice and
in the editor, axe-core, and screenshots of each size kept in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.browser_helpers import (
    SIZES,
    assert_axe_clean,
    click_blank,
    open_solo,
    press,
    shot,
    step_until_recovered,
    ue_after_fill,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")

# where the current native line is, and what sticky or fixed bars cover
GEOMETRY = """() => {
  const line = document.querySelector('#native li.current').getBoundingClientRect();
  let covered = 0;
  for (const el of document.querySelectorAll('body *')) {
    const pos = getComputedStyle(el).position;
    if (pos !== 'sticky' && pos !== 'fixed') continue;
    const r = el.getBoundingClientRect();
    if (!r.height || r.bottom <= 0 || el.hidden) continue;
    const over = r.right > line.left && r.left < line.right && r.top <= line.top;
    if (over) covered = Math.max(covered, r.bottom);
  }
  return {top: line.top, bottom: line.bottom, left: line.left, right: line.right, covered,
          scrollY: window.scrollY, scrollX: window.scrollX, width: innerWidth, height: innerHeight,
          pageWidth: document.documentElement.scrollWidth,
          countersClip: [...document.querySelectorAll('#counters li')]
            .some((li) => li.scrollWidth > li.clientWidth + 1)};
}"""


def assert_stays_put(page, steps: int = 30) -> None:
    click_blank(page)
    before = page.evaluate(GEOMETRY)
    assert before["pageWidth"] <= before["width"], before
    for _ in range(steps):
        press(page, "ArrowRight")
    g = page.evaluate(GEOMETRY)
    assert g["scrollY"] == before["scrollY"] and g["scrollX"] == 0, g
    assert g["pageWidth"] <= g["width"], g
    assert g["top"] >= 0 and g["bottom"] <= g["height"], f"the current line left the screen: {g}"
    assert g["top"] >= g["covered"], f"the current line is under a bar: {g}"
    assert not g["countersClip"], "the counters are cut off"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_each_size_fits_and_a_step_never_moves_the_window(server, browser, size):
    w, h = size
    tab = open_solo(browser, server, width=w, height=h)
    page = tab.page
    page.evaluate("localStorage.clear()")
    assert_stays_put(page)
    shot(page, f"size-{w}x{h}", full_page=False)
    page.keyboard.press("f")                              # presentation mode
    page.wait_for_selector("body.present")
    assert_stays_put(page)
    assert not page.evaluate(FITS)["memoryWide"], "the memory box scrolls sideways"
    size_px = page.evaluate("parseFloat(getComputedStyle("
                            "document.querySelector('#native code')).fontSize)")
    if w == 1920:
        assert size_px >= 20, f"presentation code is {size_px} px at 1080p"
    shot(page, f"present-{w}x{h}", full_page=False)
    page.keyboard.press("f")
    assert tab.close() == []


# the title bar and the stepping bar: one row each (every visible child overlaps every
# other vertically), inside the bar, not too tall, and the page not wider than the window
BARS = """() => {
  const bars = {};
  for (const sel of ['header.top', '#controls']) {
    const bar = document.querySelector(sel);
    const box = bar.getBoundingClientRect();
    const kids = [...bar.children].map((e) => [e, e.getBoundingClientRect()])
      .filter(([, r]) => r.width > 0 && r.height > 0);
    bars[sel] = {
      oneRow: Math.max(...kids.map(([, r]) => r.top)) < Math.min(...kids.map(([, r]) => r.bottom)),
      height: box.height,
      outside: kids.filter(([, r]) => r.left < box.left - 1 || r.right > box.right + 1)
        .map(([e]) => e.id || e.className),
      layout: kids.map(([e, r]) => `${e.id || e.className || e.tagName} ` +
        `${Math.round(r.left)}..${Math.round(r.right)} × ` +
        `${Math.round(r.top)}..${Math.round(r.bottom)}`),
    };
  }
  return {bars, em: parseFloat(getComputedStyle(document.body).fontSize),
          pageWidth: document.documentElement.scrollWidth, width: innerWidth};
}"""

# what of the console panel lies outside its box (what scrolls inside it does not count),
# the killed VM's report, and how much of the event log is left
CONSOLE = """() => {
  const panel = document.querySelector('[data-panel=console]');
  const p = panel.getBoundingClientRect();
  const scrolls = (e) => {
    for (let a = e.parentElement; a && a !== panel; a = a.parentElement)
      if (getComputedStyle(a).overflowY !== 'visible') return true;
    return false;
  };
  const outside = [];
  for (const e of panel.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || scrolls(e)) continue;
    if (r.left < p.left - 1 || r.right > p.right + 1 ||
        r.top < p.top - 1 || r.bottom > p.bottom + 1)
      outside.push(`${e.id || e.className || e.tagName} ` +
                   `${Math.round(r.right)}/${Math.round(p.right)} ` +
                   `${Math.round(r.bottom)}/${Math.round(p.bottom)}`);
  }
  const report = document.querySelector('#console .report');
  const box = document.querySelector('#console').getBoundingClientRect();
  const log = document.querySelector('#log').getBoundingClientRect();
  return {outside, report: report && report.textContent,
          reportWide: report && (report.scrollWidth > report.clientWidth + 1 ||
                                 report.getBoundingClientRect().right > box.right + 1),
          log: log.height, em: parseFloat(getComputedStyle(document.body).fontSize)};
}"""


def assert_bars_one_row(page, where: str) -> None:
    g = page.evaluate(BARS)
    assert g["pageWidth"] <= g["width"], f"{where}: the page is wider than the window: {g}"
    for sel, bar in g["bars"].items():
        assert bar["oneRow"], f"{where}: {sel} is more than one row: {bar['layout']}"
        assert not bar["outside"], f"{where}: {sel} spills: {bar['outside']}"
        assert bar["height"] <= 4 * g["em"], \
            f"{where}: {sel} is {bar['height']} px tall: {bar['layout']}"


def assert_console_holds_the_report(page, where: str) -> None:
    c = page.evaluate(CONSOLE)
    assert c["report"], f"{where}: no report of the killed VM"
    assert c["outside"] == [], f"{where}: the console spills out of its panel: {c}"
    assert not c["reportWide"], f"{where}: the report is wider than the console: {c}"
    assert c["log"] >= 2.5 * c["em"], f"{where}: the event log was pushed away: {c}"


# what of the listings lies beyond their box sideways, and where the memory box's first row
# on view is: whole below the sticky header, and a word's first (with its address); and
# whether the event log's first note on view is whole
FITS = """() => {
  const wide = [...document.querySelectorAll('.listing')]
    .filter((l) => l.scrollWidth > l.clientWidth + 1)
    .map((l) => `${l.id} ${l.scrollWidth}/${l.clientWidth}`);
  const box = document.querySelector('#memory');
  const th = box.querySelector('thead th');
  const head = th ? th.getBoundingClientRect().bottom
    : box.getBoundingClientRect().top + box.clientTop;
  const row = [...box.querySelectorAll('tbody tr')]
    .find((r) => r.getBoundingClientRect().bottom > head + 0.5);
  const r = row && row.getBoundingClientRect();
  const log = document.querySelector('#log');
  const logTop = log.getBoundingClientRect().top + log.clientTop;
  const note = [...log.children].find((li) => li.getBoundingClientRect().bottom > logTop + 0.5);
  return {wide, memoryWide: box.scrollWidth > box.clientWidth + 1,
          logCut: Boolean(note) && note.getBoundingClientRect().top < logTop - 1,
          labelSplits: Boolean(box.querySelector('.copy-row')) &&
            Boolean(box.querySelector('tbody tr:first-child:not(:only-child) .sym')),
          note: note && note.textContent.slice(0, 40),
          row: row && `${row.textContent.slice(0, 40)} at ${Math.round(r.top - head)} px`,
          cut: Boolean(row) && r.top < head - 1,
          copyRow: Boolean(row) && row.classList.contains('copy-row')};
}"""


def assert_fits(page, where: str) -> None:
    f = page.evaluate(FITS)
    assert not f["wide"], f"{where}: a listing scrolls sideways: {f['wide']}"
    assert not f["memoryWide"], f"{where}: the memory box scrolls sideways"
    assert not f["cut"], f"{where}: the memory box's first row is cut by its header: {f['row']}"
    assert not f["copyRow"], f"{where}: the memory box starts with a copy's row: {f['row']}"
    assert not f["logCut"], f"{where}: the event log's first note on view is cut: {f['note']}"
    assert not f["labelSplits"], f"{where}: a label stands between a word's stacked copies"


@pytest.mark.parametrize("size", SIZES[:2], ids=[f"{w}x{h}" for w, h in SIZES[:2]])
def test_on_a_laptop_listings_fit_and_memory_shows_whole_words(server, browser, size):
    """At 1280×720 and 1366×768 every bundled example's listings (the guest kernel's lines
    too) fit their boxes, long operands wrapped; and after each step the memory box shows
    whole words under its sticky header, never the lower half of one (a copy's row or a
    label's second line passing for the next word's)."""
    w, h = size
    tab = open_solo(browser, server, width=w, height=h)
    page = tab.page
    examples = page.eval_on_selector_all("#example option",
                                         "os => os.map((o) => o.value).filter(Boolean)")
    for name in examples:
        if page.input_value("#example") != name:     # a new listing, drawn afresh
            page.evaluate("window.drawn = document.querySelector('#native li')")
            page.select_option("#example", name)
            wait_js(page, "document.querySelector('#native li') !== window.drawn")
        page.check("#show-kernel")
        assert_fits(page, f"{name} with the guest kernel")
        page.uncheck("#show-kernel")
        click_blank(page)
        for i in range(45 if name == "sum_array" else 20):
            press(page, "ArrowRight")
            assert_fits(page, f"{name} after {i + 1} steps")
            if name == "sum_array" and i == 16:   # the call: its stores overfill their note
                assert_axe_clean(page, f"{w}x{h} when the note of the stores scrolls")
    shot(page, f"laptop-fit-{w}x{h}", full_page=False)
    assert tab.close() == []


BAR_SIZES = [(w, h, 1.0) for w, h in SIZES] + [(1280, 720, 1.5)]


@pytest.mark.parametrize("size", BAR_SIZES, ids=[f"{w}x{h}@{s}" for w, h, s in BAR_SIZES])
def test_the_bars_are_one_row_and_a_killed_vm_stays_in_its_console(server, browser, size):
    """A laptop, a 1080p projector and 150 % zoom (1280×720 CSS px at a scale of 1.5), in
    normal and presentation mode; a killed VM's report (long, with no spaces in places)
    wraps and scrolls inside the console panel and leaves the event log its room."""
    w, h, scale = size
    tab = open_solo(browser, server, width=w, height=h, scale=scale)
    page = tab.page
    page.evaluate("localStorage.clear()")
    name = f"{w}x{h}@{scale:g}"
    assert_bars_one_row(page, f"{name} at the start")
    ue_after_fill(page, 2)           # the unmirrored VM: it dies on the read
    click_blank(page)
    for _ in range(80):
        press(page, "ArrowRight")
        if page.locator("#log li.n-killed").count():
            break
    else:
        raise AssertionError("VM 2 was not killed within 80 steps")
    wait_js(page, "document.querySelector('#console .report')")
    assert_bars_one_row(page, f"{name} after VM 2 was killed")
    assert_console_holds_the_report(page, name)
    shot(page, f"bars-killed-{name}", full_page=False)
    click_blank(page)
    page.keyboard.press("f")
    page.wait_for_selector("body.present")
    assert_bars_one_row(page, f"{name} in presentation mode")
    assert_console_holds_the_report(page, f"{name} in presentation mode")
    shot(page, f"bars-killed-present-{name}", full_page=False)
    page.keyboard.press("f")
    assert tab.close() == []


def test_zoomed_in_the_page_still_fits(server, browser):
    """150 % of a 1920×1080 screen is 1280×720 CSS px at a device scale of 1.5; 200 % of
    it is 960×540, where the page flows and the window scrolls by itself only."""
    tab = open_solo(browser, server, width=1280, height=720, scale=1.5)
    assert_stays_put(tab.page, steps=10)
    shot(tab.page, "zoom-150", full_page=False)
    assert tab.close() == []
    tab = open_solo(browser, server, width=960, height=540, scale=2)
    page = tab.page
    click_blank(page)
    for _ in range(10):
        press(page, "ArrowRight")
    g = page.evaluate(GEOMETRY)
    assert g["scrollY"] == 0 and g["pageWidth"] <= g["width"], g
    shot(page, "zoom-200", full_page=False)
    assert tab.close() == []


def test_presentation_mode_is_remembered_and_shows_the_panels_picked(server, browser):
    tab = open_solo(browser, server, width=1920, height=1080)
    page = tab.page
    page.evaluate("localStorage.clear()")
    page.click("#btn-present")
    page.wait_for_selector("body.present")
    shown = page.evaluate("[...document.querySelectorAll('#grid > .panel')]"
                          ".filter((p) => p.offsetParent).map((p) => p.dataset.panel)")
    assert shown == ["code", "pagetables", "memory", "console"]
    page.click("#btn-panels")
    assert_axe_clean(page, "the panel picker")          # a landmark of its own
    page.check("#panel-picker input[value=registers]")
    page.uncheck("#panel-picker input[value=pagetables]")
    page.reload()
    page.wait_for_selector("#native li.program")
    assert page.locator("body.present").count() == 1
    assert page.locator("[data-panel=registers]").is_visible()
    assert not page.locator("[data-panel=pagetables]").is_visible()
    # the panels fill the screen: none reaches below it
    bottom = page.evaluate("Math.max(...[...document.querySelectorAll('#grid > .panel')]"
                           ".filter((p) => p.offsetParent)"
                           ".map((p) => p.getBoundingClientRect().bottom))")
    assert bottom <= 1080
    assert_axe_clean(page, "presentation mode")
    # k, for the injection panel, shows it where it was not picked, with the focus in it
    assert not page.locator("[data-panel=inject]").is_visible()
    click_blank(page)
    page.keyboard.press("k")
    page.wait_for_selector("[data-panel=inject]", state="visible")
    assert page.evaluate("document.activeElement.closest('[data-panel=inject]') !== null")
    page.keyboard.press("Escape")
    page.keyboard.press("f")                           # everything else one key away
    assert page.locator("[data-panel=pagetables]").is_visible()
    assert tab.close() == []


DROPDOWNS = ["#example", "#mirror", "#speed", "#mem-page", "#mem-view", "#inject-vm", "#inject-bit",
             "#watch-size"]


def test_arrow_steps_after_a_choice_in_every_dropdown(server, browser):
    tab = open_solo(browser, server, width=1920, height=1080)
    page = tab.page
    choices = {"#example": "calls_and_stack", "#mirror": "nmr3", "#speed": "10",
               "#mem-view": "bytes", "#inject-vm": "2", "#inject-bit": "3", "#watch-size": "8"}
    for sel in DROPDOWNS:
        value = choices.get(sel) or page.eval_on_selector(
            sel, "s => s.options[s.options.length - 1].value")
        before = page.evaluate("document.body.dataset.position")
        page.click(sel, force=True)   # the mouse opens the list (Escape closes the popup)
        page.keyboard.press("Escape")
        page.select_option(sel, value)
        if sel in ("#example", "#mirror"):   # a new program: position 0 again
            wait_js(page, f"document.body.dataset.position === '0' && {before!r} !== null")
            page.wait_for_timeout(150)
        position = int(page.evaluate("document.body.dataset.position"))
        assert page.evaluate("document.activeElement.id") == sel[1:]
        press(page, "ArrowRight")
        assert int(page.evaluate("document.body.dataset.position")) == position + 1, sel
        assert page.input_value(sel) == value, f"→ changed {sel}"
    assert tab.close() == []


def test_escape_leaves_the_editor_and_ctrl_enter_gives_the_keys_back(server, browser):
    tab = open_solo(browser, server, width=1366, height=768)
    page = tab.page
    page.click("#source")
    position = page.evaluate("document.body.dataset.position")
    page.keyboard.press("ArrowRight")                  # moves the caret, does not step
    page.wait_for_timeout(150)
    assert page.evaluate("document.body.dataset.position") == position
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "source"
    press(page, "ArrowRight")
    page.click("#source")
    page.keyboard.press("Control+Enter")                # loads; the keys step again
    wait_js(page, "document.body.dataset.position === '0'")
    wait_js(page, "document.activeElement.id !== 'source'")
    press(page, "ArrowRight")
    assert page.evaluate("document.body.dataset.position") == "1"
    assert tab.close() == []


# whether the host map's box shows the frames of the last recovery: the page's new frame
# and the good copy it was copied from (on another DIMM)
REBUILT_ON_VIEW = """() => {
  // innerText: the recovery's steps on lines of their own
  const said = document.querySelector('#log li.n-recovered').innerText;
  const frames = /→ (0x[0-9a-f]+), copied from (0x[0-9a-f]+)/.exec(said).slice(1).map(Number);
  const box = document.querySelector('#hostmap').getBoundingClientRect();
  return frames.every((f) => {
    const r = document.querySelector(`#hostmap [data-f="${f}"]`).getBoundingClientRect();
    return r.top >= box.top && r.bottom <= box.bottom; }); }"""


def test_after_a_recovery_the_page_tells_it_and_axe_is_clean(server, browser):
    tab = open_solo(browser, server, width=1920, height=1080)
    page = tab.page
    assert_axe_clean(page, "the main page")
    step_until_recovered(page)
    # the memory panel shows the failed word of the rebuilt page (table+8 = 0xa00008)
    assert page.locator("#memory .spot-word[data-va='10485768']").count() == 1
    assert "recovery rebuilt" in page.locator("#mem-writes").inner_text()
    # the host map (a box showing some of its DIMMs) shows the recovery's two frames
    assert page.evaluate(REBUILT_ON_VIEW), "the recovery's frames are out of the host map's view"
    # the card stays clear of the console and log, and went away with the step
    assert page.locator("#card").is_hidden()
    assert_axe_clean(page, "the main page after a recovery")
    page.keyboard.press("f")
    page.wait_for_selector("body.present")
    wait_js(page, "document.querySelector('#log li.n-recovered')")
    shot(page, "present-recovered-1920x1080", full_page=False)
    page.keyboard.press("f")
    assert tab.close() == []
