"""The lecture's moment on a laptop's screen: the mirrored VM's recovery and the
unmirrored VM's end both on view without scrolling, at 1366x768 and at 150 % zoom, and
the memory panel's marked word whole in the narrowest box."""

from __future__ import annotations

import pytest

from tests.browser_helpers import (
    click_blank,
    open_solo,
    press,
    shot,
    step_until_one_survives,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")


# the kinds of the log's notes whose first line is on view in its box, and whether the
# console of each VM shows its status on the screen
ON_VIEW = """() => {
  const box = document.querySelector('#log').getBoundingClientRect();
  const line = parseFloat(getComputedStyle(document.querySelector('#log')).lineHeight) || 18;
  const notes = [...document.querySelectorAll('#log li.note')].filter((li) => {
    const r = li.getBoundingClientRect();
    return r.top >= box.top - 1 && r.top + line <= box.bottom + 1;
  }).map((li) => [...li.classList].find((c) => c.startsWith('n-')).slice(2));
  const shown = (el) => { const r = el.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; };
  return {notes, statuses: [...document.querySelectorAll('#console .status')]
    .filter(shown).map((s) => s.textContent.trim())};
}"""


@pytest.mark.parametrize("size", [(1366, 768, 1.0), (1280, 720, 1.5)],
                         ids=["1366x768", "1280x720@1.5"])
def test_the_moment_one_vm_survives_what_kills_the_other_is_on_screen(server, browser, size):
    """The lecture's moment on a laptop and at 150 % zoom: one error in both VMs; the
    log shows the mirrored VM's recovery (its how folded away) and the unmirrored VM's
    console says it was killed, with nothing scrolled by hand."""
    w, h, scale = size
    tab = open_solo(browser, server, width=w, height=h, scale=scale)
    page = tab.page
    page.evaluate("localStorage.clear()")
    step_until_one_survives(page)
    wait_js(page, "document.querySelector('#log li.n-recovered')")
    seen = page.evaluate(ON_VIEW)
    assert "recovered" in seen["notes"], seen
    assert seen["statuses"] == ["running", "killed"], seen
    assert not page.locator("#log li.n-recovered .steps ol").is_visible()  # folded
    shot(page, f"moment-{w}x{h}@{scale:g}", full_page=False)
    assert tab.close() == []


def test_the_marked_word_is_whole_in_a_laptop_s_memory_box(server, browser):
    """The word the memory panel marks (outlined, an arrow before it) is not cut by
    the box's right edge at the narrowest laptop size."""
    tab = open_solo(browser, server, width=1280, height=720)
    page = tab.page
    click_blank(page)
    for _ in range(45):
        press(page, "ArrowRight")
    wait_js(page, "document.querySelector('#memory .spot-word')")
    cut = page.evaluate("""(() => {
      const m = document.querySelector('#memory'), w = m.querySelector('.spot-word');
      const inner = m.getBoundingClientRect().left + m.clientLeft + m.clientWidth;
      const s = getComputedStyle(w);  // an outline drawn outside the word counts too
      const out = Math.max(0, parseFloat(s.outlineWidth) + parseFloat(s.outlineOffset || 0));
      return {word: w.getBoundingClientRect().right + out, box: inner,
              wide: m.scrollWidth > m.clientWidth};
    })()""")
    assert cut["word"] <= cut["box"] + 0.5 and not cut["wide"], cut
    assert tab.close() == []
