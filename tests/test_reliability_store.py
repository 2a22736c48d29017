"""The database under a real server: a tab's session survives a crash, a damaged file
found at start is kept aside and reported while the server goes on, a file deleted
while the server runs is written again with everything it held, and a database on a
read-only file system is read, said, and written again whole once it can be."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.live import Live, can_mount_read_only, hello, run


def steps_of(snapshot: dict) -> int:
    return snapshot["history"]["position"]


async def solo_with_steps(server: Live, n: int) -> tuple[str, int]:
    tab = server.tab()
    first = tab.expect(lambda name, body: name == "snapshot")
    ack = await hello(tab)
    assert ack["ok"], ack
    await asyncio.wait_for(first, 10)
    for _ in range(n):
        assert (await tab.call("step"))["ok"]
    got = tab.expect(lambda name, body: name == "snapshot")
    assert (await tab.call("hello", {"workspace": ack["workspace"]}))["ok"]
    position = steps_of(await asyncio.wait_for(got, 10))
    assert position >= n
    await tab.close()
    return ack["workspace"], position


def written(server: Live) -> None:
    """Until the server's writer has made every write it was handed (a kill before
    would lose the last: the tab's answer does not wait for the disk)."""
    for _ in range(200):
        if not server.json("/status")["store"]["pending_writes"]:
            return
        time.sleep(0.05)
    raise AssertionError("the server's writes are still pending")


async def come_back(server: Live, wid: str) -> tuple[dict, int]:
    tab = server.tab()
    got = tab.expect(lambda name, body: name == "snapshot")
    ack = await hello(tab, {"workspace": wid})
    snapshot = await asyncio.wait_for(got, 30)
    await tab.close()
    return ack, steps_of(snapshot)


def test_a_solo_session_survives_a_crash_and_a_lost_one_is_told(tmp_path):
    server = Live(database=str(tmp_path / "db.sqlite3"))
    try:
        wid, position = run(solo_with_steps(server, 7))
        written(server)
        server.kill()
        server.start()
        ack, again = run(come_back(server, wid))
        assert ack["workspace"] == wid and "note" not in ack
        assert again == position
        ack, _ = run(come_back(server, "no-such-workspace"))
        assert ack["ok"] and "could not be found" in ack["note"]
    finally:
        server.stop()


def test_a_damaged_database_is_kept_aside_and_the_server_goes_on(tmp_path):
    db = tmp_path / "db.sqlite3"
    db.write_bytes(b"this is not a database" * 500)
    server = Live(database=str(db))
    try:
        status, body = server.get("/healthz")
        assert status == 200 and '"damaged"' in body
        aside = [p for p in tmp_path.iterdir() if p.name.startswith("db.sqlite3.damaged")]
        assert aside and aside[0].read_bytes().startswith(b"this is not a database")
        wid, position = run(solo_with_steps(server, 3))
        written(server)
        server.kill()
        server.start()
        ack, again = run(come_back(server, wid))
        assert ack["workspace"] == wid and again == position
    finally:
        server.stop()


def test_a_database_deleted_while_the_server_runs_is_written_again(tmp_path):
    db = tmp_path / "db.sqlite3"
    server = Live(database=str(db))
    try:
        wid, position = run(solo_with_steps(server, 4))
        for p in tmp_path.glob("db.sqlite3*"):
            p.unlink()
        other, _ = run(solo_with_steps(server, 1))    # the next write finds it gone
        status, _ = server.get("/healthz")
        assert status == 200
        assert Path(db).exists()
        written(server)
        server.kill()
        server.start()
        ack, again = run(come_back(server, wid))
        assert ack["workspace"] == wid and "note" not in ack and again == position
        ack, _ = run(come_back(server, other))
        assert ack["workspace"] == other
    finally:
        server.stop()


@pytest.mark.skipif(not can_mount_read_only(), reason="needs a mount namespace (unshare -m)")
def test_a_read_only_database_is_read_said_and_written_whole_once_it_can_be(tmp_path):
    db = tmp_path / "db" / "kmemvisor.sqlite3"
    db.parent.mkdir()
    server = Live(database=str(db))
    try:
        wid, position = run(solo_with_steps(server, 3))
        written(server)
        server.kill()
        server.start(read_only=True)
        status, body = server.get("/healthz")
        assert status == 503 and "cannot be written" in body, body
        ack, again = run(come_back(server, wid))     # what the file holds is read
        assert ack["workspace"] == wid and again == position
        assert "cannot save sessions now" in ack["note"]
        # said to every tab without where the file is (that is in the server's log)
        assert str(db.parent) not in ack["note"] and str(db.parent) in server.logged()
        new, steps = run(solo_with_steps(server, 4))  # and the server goes on serving
        assert server.proc.poll() is None
        server.writable()
        run(solo_with_steps(server, 1))                # the next write finds it writable
        assert server.get("/healthz")[0] == 200
        written(server)
        server.kill()
        server.start()
        ack, again = run(come_back(server, new))       # written whole: nothing was lost
        assert ack["workspace"] == new and "note" not in ack and again == steps
        ack, again = run(come_back(server, wid))
        assert ack["workspace"] == wid and again == position
    finally:
        server.stop()
