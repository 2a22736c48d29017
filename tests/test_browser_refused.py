"""A page the server cannot take (the tab limit reached) says why, and connects by
itself once there is room, in a real browser."""

from __future__ import annotations

import contextlib

import pytest
from websockets.sync.client import connect

from tests.browser_helpers import Server, Tab, launch, need_chromium, shot, wait_js

playwright_api = pytest.importorskip("playwright.sync_api")


def test_a_refused_tab_says_why_and_comes_in_when_there_is_room():
    need_chromium()
    server = Server("--set", "TABS_PER_ADDRESS=2", "--set", "HELLO_SECONDS=60")
    url = server.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    held = contextlib.ExitStack()                      # this address's two tabs
    for _ in range(2):
        held.enter_context(connect(url))
    try:
        with playwright_api.sync_playwright() as p:
            browser = launch(p)
            tab = Tab(browser, server.url + "/", 1366, 768)
            status = "document.getElementById('connection').textContent"
            wait_js(tab.page, f"{status}.includes('cannot take this tab now')", timeout=20)
            text = tab.page.locator("#connection").inner_text()
            assert "tabs are open from your address already" in text, text
            shot(tab.page, "refused-tab-1366", full_page=False)
            held.close()
            wait_js(tab.page, f"{status} === 'connected'", timeout=30)
            assert tab.close() == []
            browser.close()
    finally:
        held.close()
        server.stop()


def test_while_the_link_is_down_nothing_offers_to_change_the_session(browser):
    server = Server()
    try:
        tab = Tab(browser, server.url + "/", 1366, 768)
        tab.page.wait_for_selector("#connection.ok")
        wait_js(tab.page, "!document.getElementById('btn-step').disabled")
    finally:
        server.stop()
    page = tab.page
    page.wait_for_selector("#connection.bad")
    wait_js(page, "document.getElementById('btn-step').disabled")
    for control in ("#btn-step", "#btn-run", "#btn-inject", "#btn-load", "#example"):
        assert page.locator(control).is_disabled(), control
    tab.context.close()
