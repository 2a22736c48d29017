"""The memory panel's toolbar on a laptop and a projector, in normal and presentation mode
and at 150 % zoom: the page and its format on one row, the go-to field on a second, every
control named and reachable by Tab, and the word table no wider than its box."""

from __future__ import annotations

import pytest

from tests.browser_helpers import SIZES, click_blank, open_solo, press

playwright_api = pytest.importorskip("playwright.sync_api")

CONTROLS = ["#mem-page", "#mem-view", "#watch-target", "#btn-goto", "#btn-watch", "#watch-size"]

# the rows the toolbar's controls take (controls overlapping vertically share one), its
# height, what sticks out of the panel, and how wide the word table is against its box
BAR = """(sels) => {
  const panel = document.querySelector('[data-panel=memory]').getBoundingClientRect();
  const boxes = sels.map((s) => [s, document.querySelector(s).getBoundingClientRect()]);
  const rows = [];
  for (const [s, r] of boxes) {
    const row = rows.find((w) => r.top < w.bottom && r.bottom > w.top);
    if (!row) { rows.push({top: r.top, bottom: r.bottom, sels: [s]}); continue; }
    row.top = Math.min(row.top, r.top);
    row.bottom = Math.max(row.bottom, r.bottom);
    row.sels.push(s);
  }
  const m = document.querySelector('#memory');
  return {rows: rows.map((w) => w.sels),
          height: Math.max(...boxes.map(([, r]) => r.bottom)) -
            Math.min(...boxes.map(([, r]) => r.top)),
          outside: boxes.filter(([, r]) => r.left < panel.left || r.right > panel.right)
            .map(([s]) => s),
          em: parseFloat(getComputedStyle(document.querySelector('#mem-page')).fontSize),
          memory: [m.scrollWidth, m.clientWidth],
          title: document.querySelector('#mem-page').title,
          option: document.querySelector('#mem-page').selectedOptions[0].textContent};
}"""

CASES = [(w, h, 1.0, False) for w, h in SIZES] + [(1280, 720, 1.5, False)] + \
        [(w, h, 1.0, True) for w, h in (SIZES[0], SIZES[1], SIZES[3])]


def assert_bar(page, where: str) -> None:
    g = page.evaluate(BAR, CONTROLS)
    assert g["rows"] == [CONTROLS[:2], CONTROLS[2:]], f"{where}: the toolbar's rows: {g['rows']}"
    assert g["height"] <= 4.5 * g["em"], f"{where}: the toolbar is {g['height']} px tall"
    assert g["outside"] == [], f"{where}: out of the panel: {g['outside']}"
    sw, cw = g["memory"]
    assert sw <= cw, f"{where}: the memory box scrolls sideways ({sw} > {cw})"
    assert g["title"] == g["option"] and g["option"], f"{where}: the page select's title: {g}"


@pytest.mark.parametrize("case", CASES, ids=[f"{w}x{h}@{s:g}{'-present' if p else ''}"
                                              for w, h, s, p in CASES])
def test_the_memory_toolbar_is_two_rows_and_the_table_fits(server, browser, case):
    w, h, scale, present = case
    tab = open_solo(browser, server, width=w, height=h, scale=scale)
    page = tab.page
    page.evaluate("localStorage.clear()")
    click_blank(page)
    for _ in range(20):        # the stack's words drawn: the widest rows of sum_array
        press(page, "ArrowRight")
    if present:
        page.keyboard.press("f")
        page.wait_for_selector("body.present")
    where = f"{w}x{h}@{scale:g}{' in presentation mode' if present else ''}"
    assert_bar(page, where)
    # the names stay (the label, not the title, names the select) and Tab walks the row
    names = [page.locator(s).evaluate("e => e.labels && e.labels[0] ? e.labels[0].textContent"
                                      " : e.getAttribute('aria-label') || e.textContent")
             for s in CONTROLS]
    assert all(n.strip() for n in names), names
    page.focus("#mem-page")
    for sel in CONTROLS[1:]:
        page.keyboard.press("Tab")
        assert page.evaluate("'#' + document.activeElement.id") == sel, where
    assert tab.close() == []
