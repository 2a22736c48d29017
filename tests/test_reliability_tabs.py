"""A room full of tabs against a real server: a thousand open at once leave the page,
/healthz and a newcomer's hello answered; over a limit a tab is refused with the
reason; a connection that never says hello is closed; other sites' names are not
answered."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from app.bench.crowd import timed
from app.bench.http import open_classroom
from tests.live import Live, hello, run


@pytest.fixture
def live(request):
    server = Live(*getattr(request, "param", ()))
    yield server
    server.stop()


@pytest.mark.parametrize("live", [("HELLO_SECONDS=60",)], indirect=True)
def test_a_thousand_tabs_leave_the_page_and_a_newcomer_answered_within_a_second(live):
    code, _key = open_classroom(live.url, "01-why-mirror")

    async def scenario():
        tabs = []
        for i in range(1000):  # ten addresses of a classroom network, a hundred each
            t = live.tab(f"127.0.0.{2 + i // 100}")
            await t.open()
            tabs.append(t)
        acks = await asyncio.gather(*(t.call("hello", {"classroom": code,
                                                        "name": f"student {i}"})
                                      for i, t in enumerate(tabs)))
        assert all(a["ok"] for a in acks), [a for a in acks if not a["ok"]][:3]
        waits = []
        for _ in range(5):
            took, (status, _) = await timed(asyncio.to_thread(live.get, "/healthz"))
            assert status == 200
            waits.append(took)
            newcomer = live.tab()
            took, ack = await timed(hello(newcomer))
            assert ack["ok"], ack
            waits.append(took)
            await newcomer.close()
        status, page = await asyncio.to_thread(live.get, "/")
        assert status == 200 and "kMemvisor Lab" in page
        assert not any(t.closed for t in tabs)
        for t in tabs:
            await t.close()
        return waits
    waits = run(scenario())
    assert max(waits) < 1.0, waits
    assert live.json("/status")["tabs"]["refused"] == 0


@pytest.mark.parametrize("live", [("MAX_TABS=30", "TABS_PER_ADDRESS=10")], indirect=True)
def test_tabs_over_a_limit_are_refused_with_the_limit_named(live):
    async def scenario():
        mine = [live.tab("127.0.0.1") for _ in range(10)]
        for t in mine:
            await t.open()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await live.tab("127.0.0.1").open()
        assert refused.value.response.status_code == 503
        assert b"per address" in refused.value.response.body
        others = [live.tab(f"127.0.0.{2 + i // 10}") for i in range(20)]
        for t in others:
            await t.open()
        with pytest.raises(websockets.InvalidStatus) as full:
            await live.tab("127.0.0.9").open()
        assert b"30 tabs open already" in full.value.response.body
        await mine[0].close()
        await asyncio.sleep(0.5)
        again = live.tab("127.0.0.1")
        await again.open()                 # a closed tab gives its place back
        assert (await again.call("hello"))["ok"]
        for t in [*mine[1:], *others, again]:
            await t.close()
    run(scenario())
    status = live.json("/status")["tabs"]
    assert status["refused"] == 2 and status["tabs"] == 0


def test_a_closed_tab_lets_go_of_its_connection_at_once(live):
    """The closing handshake is answered and the TCP connection ends: a hall that
    closes its laptops leaves nothing behind waiting for a next request."""
    async def scenario():
        tabs = [live.tab() for _ in range(50)]
        for t in tabs:
            assert (await hello(t))["ok"]
        took, _ = await timed(asyncio.gather(*(t.close() for t in tabs)))
        assert all(t.ws.close_code == 1000 for t in tabs)  # answered, not timed out
        return took
    took = run(scenario())
    assert took < 0.9, took   # each client gives up on an unanswered close after 1 s
    deadline = time.monotonic() + 5
    while live.json("/status")["tabs"]["tabs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.json("/status")["tabs"]["tabs"] == 0


@pytest.mark.parametrize("live", [("HELLO_SECONDS=1.5",)], indirect=True)
def test_a_connection_that_never_says_hello_is_closed(live):
    async def scenario():
        silent, greeted = live.tab(), live.tab()
        await silent.open()
        assert (await hello(greeted))["ok"]
        start = time.monotonic()
        while silent.closed is None and time.monotonic() - start < 10:
            await asyncio.sleep(0.1)
        assert silent.closed is not None
        assert time.monotonic() - start < 5
        assert greeted.closed is None
        assert (await greeted.call("step"))["ok"]
        await greeted.close()
    run(scenario())
    assert live.json("/status")["hello_deadline_closed"] == 1


def test_another_sites_name_is_not_answered(live):
    status, body = live.get("/", host="rebind.example")
    assert status == 400 and "does not answer to the name" in body
    status, _ = live.get("/healthz", host="localhost")
    assert status == 200
    status, _ = live.get("/healthz", host=f"127.0.0.1:{live.port}")
    assert status == 200

    async def rebinding():
        url = f"ws://127.0.0.1:{live.port}/socket.io/?EIO=4&transport=websocket"
        with pytest.raises(websockets.InvalidStatus) as e:
            await websockets.connect(url, additional_headers={
                "Host": "rebind.example", "Origin": "http://rebind.example"})
        assert e.value.response.status_code == 400
    run(rebinding())


def test_pages_say_what_the_browser_may_do_with_them(live):
    import urllib.request
    with urllib.request.urlopen(live.url + "/lessons") as r:
        h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"   # the instructor's key is in the URL
    assert h["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize("live", [("LOAD_SECONDS=120",)], indirect=True)
def test_a_load_stops_when_its_last_tab_closes(live):
    """A long load whose tab went away gives the loading thread back at once: the
    next tab's load waits for nothing (one load thread, the default)."""
    big = "main:\n" + "    addq $1, %rax\n" * 11_000 + "    ret\n"

    async def scenario():
        leaving, staying = live.tab(), live.tab()
        assert (await hello(leaving))["ok"] and (await hello(staying))["ok"]
        await leaving.ws.send("42" + json.dumps(["load", {"source": big}]))
        await asyncio.sleep(0.3)          # the load is under way
        await leaving.close()
        took, ack = await timed(staying.call("example", {"name": "sum_array"}))
        await staying.close()
        return took, ack
    took, ack = run(scenario())
    assert ack["ok"], ack
    assert took < 1.0, took


@pytest.mark.parametrize("live", [("WORKSPACES_PER_ADDRESS=3",)], indirect=True)
def test_idle_sessions_do_not_keep_the_rest_of_an_address_out(live):
    # one address is a whole class behind a NAT: a closed tab leaves an idle session,
    # and only the sessions in use count against the address
    async def scenario():
        tabs = [live.tab("127.0.0.1") for _ in range(3)]
        for t in tabs:
            assert (await hello(t))["ok"]
        over = live.tab("127.0.0.1")
        refused = await hello(over)
        assert not refused["ok"], refused
        assert "3 sessions open" in refused["error"]["message"]
        assert "the limit per address" in refused["error"]["message"]
        assert (await hello(live.tab("127.0.0.2")))["ok"]   # another address is not
        for t in tabs:
            await t.close()
        newcomers = [live.tab("127.0.0.1") for _ in range(3)]
        for t in newcomers:
            assert (await hello(t))["ok"]
        for t in [over, *newcomers]:
            await t.close()
    run(scenario())
