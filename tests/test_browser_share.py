"""Share, embed, export in Chromium: a link opened in a fresh browser shows the same
registers and memory at the same step; the embed only moves along the history and is
clean for axe; a downloaded recipe uploaded in another browser rebuilds the session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser_helpers import (
    Tab,
    assert_axe_clean,
    click_blank,
    open_solo,
    press,
    shot,
    ue_after_fill,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")


def seen(page) -> dict:
    """What a viewer reads: the step, the registers, the memory panel."""
    return {"position": page.evaluate("document.body.dataset.position"),
            "label": page.locator("#history-label").inner_text(),
            "regs": page.locator("#regs").inner_text(),
            "memory": page.locator("#memory").inner_text()}


def recorded(page) -> None:
    ue_after_fill(page, 1)
    click_blank(page)
    for _ in range(10):
        press(page, "ArrowRight")
    press(page, "ArrowLeft")
    press(page, "ArrowLeft")


def make_link(page) -> str:
    page.click("#btn-share")
    page.click("#btn-make-link")
    wait_js(page, "document.querySelector('#share-link').value !== ''")
    return page.input_value("#share-link")


def test_a_link_opens_the_same_step_and_the_embed_only_moves_along_it(server, browser):
    owner = open_solo(browser, server, width=1920, height=1080)
    recorded(owner.page)
    # the sharer looks at VM 2's memory, at a word of its own choice: the link says so
    owner.page.click("#vm-tabs [data-vm='2']")
    owner.page.fill("#watch-target", "table+16")
    owner.page.click("#btn-goto")
    wait_js(owner.page, "document.querySelector('#mem-vm').textContent.includes('VM 2')")
    said = owner.page.locator("#mem-writes").inner_text()   # Go says where it went
    assert said.startswith("▶ the word you went to: 0xa00010"), said
    link = make_link(owner.page)
    assert "/s/" in link and link.endswith("#vm=2&at=0xa00010"), link
    assert "<iframe" in owner.page.input_value("#share-embed")
    click_blank(owner.page)
    before = seen(owner.page)
    assert " of " in before["label"]                  # the recorded future came along

    guest = Tab(browser, link, width=1920, height=1080)   # a fresh context: nothing shared
    guest.page.wait_for_selector("#connection.ok")
    wait_js(guest.page, f"document.body.dataset.position === '{before['position']}'")
    wait_js(guest.page, "document.querySelector('#mem-vm').textContent.includes('VM 2')")
    assert guest.page.get_attribute("#vm-tabs [data-vm='2']", "aria-selected") == "true"
    assert seen(guest.page) == before
    press(guest.page, "ArrowRight")                   # the guest's copy replays the future
    assert seen(guest.page)["position"] != before["position"]

    embed_url = link.replace("/s/", "/embed/")
    view = Tab(browser, embed_url, width=1280, height=720)
    page = view.page
    page.wait_for_selector("#connection.ok")
    wait_js(page, f"document.body.dataset.position === '{before['position']}'")
    for hidden in ("#btn-run", "#btn-reset", "#btn-step-rw", "#setup", "#btn-share"):
        assert not page.locator(hidden).is_visible(), hidden
    assert not page.locator("[data-panel=editor]").is_visible()
    assert not page.locator("[data-panel=inject]").is_visible()
    click_blank(page)
    page.keyboard.press("j")                          # no injection from a view
    press(page, "ArrowRight")                         # → goes forward along the history
    assert int(page.evaluate("document.body.dataset.position")) == int(before["position"]) + 1
    press(page, "ArrowLeft")
    assert seen(page)["regs"] == before["regs"]
    assert page.locator("#log li.n-inject").count() == 1
    shot(page, "embed-1280", full_page=False)
    assert_axe_clean(page, "the embed view")
    assert owner.page.evaluate("document.body.dataset.position") == before["position"]
    for tab in (view, guest, owner):
        assert tab.close() == []


def test_a_downloaded_recipe_uploads_into_another_browser(server, browser, tmp_path):
    owner = open_solo(browser, server, width=1366, height=768)
    recorded(owner.page)
    owner.page.click("#btn-share")
    with owner.page.expect_download() as got:
        owner.page.click("#btn-download-recipe")
    path = tmp_path / "recipe.json"
    got.value.save_as(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "kmemvisor-recipe"
    with owner.page.expect_download() as got:
        owner.page.click("#btn-download-trace")
    trace = json.loads(Path(got.value.path()).read_text())
    assert trace["format"] == "kmemvisor-trace" and trace["entries"]
    click_blank(owner.page)
    before = seen(owner.page)

    other = open_solo(browser, server, width=1366, height=768)
    other.page.click("#btn-share")
    other.page.set_input_files("#upload", str(path))
    wait_js(other.page, "document.querySelector('#share-status').textContent.includes('loaded')")
    wait_js(other.page, f"document.body.dataset.position === '{before['position']}'")
    click_blank(other.page)
    assert seen(other.page) == before
    # a file that is not a recipe is refused in words, and nothing changes
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "kmemvisor-recipe", "version": 7}')
    other.page.set_input_files("#upload", str(bad))
    wait_js(other.page,
            "document.querySelector('#share-status').textContent.includes('not loaded')")
    assert "version" in other.page.locator("#share-status").inner_text()
    assert seen(other.page) == before
    assert_axe_clean(other.page, "the page with the share box open")
    for tab in (other, owner):
        assert tab.close() == []
