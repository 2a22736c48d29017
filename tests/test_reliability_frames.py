"""Frames a careless or hostile tab sends, against a real server: each is answered with
what was wrong, none costs the tab its session, none reaches another tab, and a flood
of them neither fills the log nor slows anyone else."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.bench.crowd import Tab
from tests.live import Live, hello, run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def live():
    server = Live()
    yield server
    server.stop()


async def raw(tab: Tab, data: str, timeout: float = 10.0) -> dict:
    """Send a command frame whose data is `data` as written; its acknowledgement."""
    tab._n += 1
    fut = asyncio.get_running_loop().create_future()
    tab._acks[tab._n] = fut
    await tab.ws.send(f"42{tab._n}{data}")
    return await asyncio.wait_for(fut, timeout)


BAD_FRAMES = [
    ('["step", {"granularity": "native"', "not valid JSON"),
    ('["step", {"budget": 1' + "0" * 400 + "}]", "not valid JSON"),       # a huge integer
    ('["run", {"speed": NaN}]', "not valid JSON"),
    ('["step", ' + "[" * 5000 + "]" * 5000 + "]", "not valid JSON"),      # nesting
    ('["step", {"granularity": "\\ud800"}]', "not valid JSON"),           # a lone surrogate
    ('["disconnect"]', "not a command a client may send"),
    ('["connect", {}]', "not a command a client may send"),
    ('["malformed", "x"]', "not a command a client may send"),
    ("[42, {}]", "does not start with an event name"),
    ("[]", "does not start with an event name"),
    ('{"step": 1}', "does not start with an event name"),
    ('["no such command", {}]', "unknown command 'no such command'"),
    ('["step", {"granularity": 7}]', "granularity"),                      # the schema
    ('["step", "native"]', "step"),
    ('["load", {"source": 5}]', "source"),
    ('["inject", {"kind": "ue", "target": "x", "extra": [1, 2]}]', "extra"),
]


@pytest.mark.parametrize(("data", "said"), BAD_FRAMES)
def test_a_bad_frame_is_answered_with_what_was_wrong_and_the_tab_goes_on(live, data, said):
    async def scenario():
        tab = live.tab()
        assert (await hello(tab))["ok"]
        ack = await raw(tab, data)
        assert ack["ok"] is False and said in ack["error"]["message"], ack
        assert (await tab.call("step"))["ok"]          # same tab, same session
        assert tab.closed is None
        await tab.close()
    run(scenario())


def test_a_refused_second_hello_keeps_the_tabs_session(live):
    async def scenario():
        tab = live.tab()
        first = await hello(tab)
        assert (await tab.call("step"))["ok"]
        again = await tab.call("hello", {"classroom": "NOSUCH", "name": "x"})
        assert again["ok"] is False
        assert (await tab.call("step"))["ok"]
        view = await tab.call("hello", {"workspace": first["workspace"]})
        assert view["workspace"] == first["workspace"] and "note" not in view
        await tab.close()
    run(scenario())


def test_a_flood_of_frames_is_held_to_the_tabs_rate_and_leaves_others_alone(live):
    """One tab sends 3,000 frames as fast as it can, good and bad mixed (from a
    process of its own, so that only the server is shared); a tab beside it goes on
    stepping in its usual time, and the log grows by a few lines only."""
    before = len(live.logged())
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, live.url], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)

    async def beside():
        bystander = live.tab()
        assert (await hello(bystander))["ok"]
        alone = [(await timed_step(bystander)) for _ in range(20)]
        assert flood.stdout.readline().strip() == "flooding"
        during = [(await timed_step(bystander)) for _ in range(20)]
        await bystander.close()
        return alone, during
    alone, during = run(beside())
    out, _ = flood.communicate(timeout=120)
    result = json.loads(out)
    assert result["limited"] > 1000, f"the flood was not held to the tab's rate: {result}"
    assert result["unanswered"] == 0 and result["closed"] is None, result
    assert result["after"], "the tab could not go on once its rate filled again"
    # the flood costs the connections' thread about half a second in all (reading and
    # refusing 3,000 frames): a neighbour's step may wait for part of it once or
    # twice, and is back to its usual time at once
    assert sorted(during)[len(during) // 2] < max(0.05, 5 * sorted(alone)[len(alone) // 2])
    assert max(during) < 2.0, (alone, during)
    grown = live.logged()[before:]
    assert len(grown.splitlines()) < 60, grown[-2000:]


FLOOD = """
import asyncio, json, sys
from app.bench.crowd import Tab
from tests.test_reliability_frames import raw

async def main(url):
    tab = Tab(url)
    await tab.open()
    assert (await tab.call("hello", {}))["ok"]
    frames = ['["step", {}]', '["disconnect"]', "[1]", '["nope"]', '["step", {"x":'] * 600
    acks = asyncio.gather(*(raw(tab, f, timeout=60) for f in frames),
                          return_exceptions=True)
    print("flooding", flush=True)
    acks = await acks
    answered = [a for a in acks if isinstance(a, dict)]
    limited = [a for a in answered
               if not a["ok"] and "too many commands" in a["error"]["message"]]
    await asyncio.sleep(2.5)          # the tab's rate fills again
    after = (await tab.call("step"))["ok"]
    print(json.dumps({"limited": len(limited), "unanswered": len(acks) - len(answered),
                      "closed": tab.closed, "after": after}))
    await tab.close()

asyncio.run(main(sys.argv[1]))
"""


async def timed_step(tab: Tab) -> float:
    start = time.perf_counter()
    ack = await tab.call("step")
    if not ack["ok"]:
        await tab.call("reset")
    return time.perf_counter() - start


def test_frames_that_are_no_command_do_not_close_other_tabs(live):
    """Engine.IO and Socket.IO packets of the wrong kind, and binary frames: at worst
    the sender's own connection ends."""
    async def scenario():
        bystander = live.tab()
        assert (await hello(bystander))["ok"]
        for junk in ["9", "4", "49", "45-[]", "41{}", "4x", "\x00" * 100]:
            tab = live.tab()
            await hello(tab)
            await tab.ws.send(junk)
            await asyncio.sleep(0.05)
            await tab.ws.close()
        binary = live.tab()
        await hello(binary)
        await binary.ws.send(b"\x04\x00\xff")
        await asyncio.sleep(0.1)
        await binary.ws.close()
        assert (await bystander.call("step"))["ok"] and bystander.closed is None
        await bystander.close()
    run(scenario())
    assert json.loads(live.get("/healthz")[1])["ok"] is True


def test_a_frame_with_binary_attachments_is_refused_and_the_tab_goes_on(live):
    # the library would hold every later frame as the promised attachments, answering
    # none and buffering without bound: refused, and the next command answered
    async def scenario():
        tab = live.tab()
        assert (await hello(tab))["ok"]
        tab._n += 1
        fut = asyncio.get_running_loop().create_future()
        tab._acks[tab._n] = fut
        await tab.ws.send(f'451-{tab._n}["step",{{"_placeholder":true,"num":0}}]')
        ack = await asyncio.wait_for(fut, 10)
        assert ack["ok"] is False and "binary attachments" in ack["error"]["message"], ack
        for _ in range(3):
            await tab.ws.send(b"\x00" * 1024)
        assert (await tab.call("step"))["ok"]
        await tab.close()
    run(scenario())
