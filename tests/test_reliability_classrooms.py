"""Classrooms against a real server as a term of lectures uses them: they end (by the
instructor, or unused), their limits are answered with styled pages, join codes
cannot be guessed, forks cost the instructor nothing and a rebuild after a restart
blocks only its own classroom."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from app.bench import forks
from app.bench.crowd import timed
from app.bench.http import open_classroom
from tests.live import Live, hello, run

LESSON = "01-why-mirror"
LOOP = forks.LOOP  # a loop of {n} turns, one store each


@pytest.fixture
def live(request):
    server = Live(*getattr(request, "param", ()))
    yield server
    server.stop()


def post_classroom(base: str, lesson: str = LESSON) -> tuple[int, str]:
    """(status, page) of the lessons page's form, as a browser sends it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/lessons", timeout=10).read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"lesson": lesson, "csrf": token}).encode()
    try:
        with opener.open(base + "/classrooms", data=data, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def styled(page: str) -> bool:
    return "<!doctype html>" in page.lower() and 'rel="stylesheet"' in page


@pytest.mark.parametrize("live", [("CLASSROOMS_PER_ADDRESS=2",)], indirect=True)
def test_a_full_address_gets_a_styled_page_and_ending_a_classroom_frees_its_place(live):
    first, first_key = open_classroom(live.url, LESSON)
    open_classroom(live.url, LESSON)
    status, page = post_classroom(live.url)
    assert status == 503 and styled(page), page[:300]
    assert "No room for another classroom" in page and "open from your address" in page

    async def end_it():
        teacher, student = live.tab(), live.tab()
        assert (await hello(teacher, {"classroom": first, "key": first_key}))["ok"]
        assert (await hello(student, {"classroom": first, "name": "Ada"}))["ok"]
        told = student.expect(lambda name, body: name == "classroom" and "ended" in body)
        refused = await student.call("end")
        assert not refused["ok"] and "instructor" in refused["error"]["message"]
        assert (await teacher.call("end"))["ok"]
        await asyncio.wait_for(told, 5)
        late = live.tab()
        again = await hello(late, {"classroom": first, "name": "Bob"})
        assert not again["ok"] and "has ended" in again["error"]["message"]
        for t in (teacher, student, late):
            await t.close()
    run(end_it())
    status, page = live.get(f"/class/{first}")
    assert status == 404 and styled(page) and "has ended" in page
    status, _ = post_classroom(live.url)          # the ended classroom gave its place back
    assert status == 200


@pytest.mark.parametrize("live", [("CLASSROOM_EXPIRE_SECONDS=1", "SWEEP_SECONDS=0.2")],
                         indirect=True)
def test_a_classroom_nobody_uses_ends_by_itself(live):
    code, _key = open_classroom(live.url, LESSON)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, page = live.get(f"/join?code={code}")
        if status == 404:
            break
        time.sleep(0.2)
    assert status == 404 and "has ended" in page


def test_join_codes_cannot_be_guessed_from_one_address(live):
    code, _key = open_classroom(live.url, LESSON)

    async def guess():
        tab = live.tab("127.0.0.5")
        await tab.open()
        answers = [await tab.call("hello", {"classroom": f"WRONG{i}", "name": "x"})
                   for i in range(12)]
        assert all(not a["ok"] for a in answers)
        assert "too many wrong classroom codes" in answers[-1]["error"]["message"]
        right = await tab.call("hello", {"classroom": code, "name": "x"})
        assert not right["ok"] and "too many" in right["error"]["message"]
        other = live.tab("127.0.0.6")                  # the rest of the class is not held
        assert (await hello(other, {"classroom": code, "name": "y"}))["ok"]
        await tab.close()
        await other.close()
    run(guess())
    for i in range(12):                                 # the same holds for the page
        status, page = live.get(f"/join?code=NOPE{i}")
    assert status == 429 and styled(page) and "Too many wrong" in page


def test_twenty_forks_at_once_cost_the_instructor_nothing_visible(live):
    code, key = open_classroom(live.url, LESSON)

    async def scenario():
        teacher = live.tab()
        assert (await hello(teacher, {"classroom": code, "key": key}))["ok"]
        ack = await teacher.call("load", {"source": LOOP.format(n=3_000_000)})
        assert ack["ok"], ack
        stopped = teacher.expect(lambda name, body: name == "snapshot" and "stopped" in body)
        assert (await teacher.call("run", {"speed": "max", "budget": 5_000_000}))["ok"]
        await asyncio.wait_for(stopped, 120)           # a long history to fork from
        students = [live.tab() for _ in range(20)]
        for i, s in enumerate(students):
            assert (await hello(s, {"classroom": code, "name": f"s{i}"}))["ok"]
        alone = [(await timed(teacher.call("step")))[0] for _ in range(10)]
        forks = asyncio.gather(*(s.call("fork") for s in students))
        during = [(await timed(teacher.call("step")))[0] for _ in range(10)]
        acks = await forks
        assert all(a["ok"] for a in acks), acks[:2]
        steps = await asyncio.gather(*(s.call("step") for s in students))
        assert all(a["ok"] for a in steps)
        for t in (teacher, *students):
            await t.close()
        return alone, during
    alone, during = run(scenario())
    assert max(during) < max(0.5, 5 * max(alone)), (alone, during)


def test_a_rebuild_after_a_restart_blocks_only_its_own_classroom(tmp_path):
    database = str(tmp_path / "kmemvisor.sqlite3")
    server = Live(database=database)
    try:
        big, big_key = open_classroom(server.url, LESSON)
        small, _ = open_classroom(server.url, LESSON)
        alike, _ = open_classroom(server.url, LESSON)  # to time a small rebuild alone

        async def long_history():
            teacher = server.tab()
            assert (await hello(teacher, {"classroom": big, "key": big_key}))["ok"]
            assert (await teacher.call("load", {"source": LOOP.format(n=40_000_000)}))["ok"]
            for _ in range(2):      # two runs: past a checkpoint, then beyond it
                stopped = teacher.expect(
                    lambda name, body: name == "snapshot" and "stopped" in body)
                assert (await teacher.call("run", {"speed": "max",
                                                   "budget": 30_000_000}))["ok"]
                await asyncio.wait_for(stopped, 240)
            assert (await teacher.call("step"))["ok"]
            await teacher.close()
        run(long_history())
        server.kill()
        server.start()

        async def after():
            first = server.tab()
            alone, ack = await timed(hello(first, {"classroom": alike, "name": "Bo"}))
            assert ack["ok"], ack
            await first.close()
            teacher, student = server.tab(), server.tab()
            back = asyncio.ensure_future(hello(teacher, {"classroom": big, "key": big_key}))
            await asyncio.sleep(0.05)                     # its rebuild is under way
            took, ack = await timed(hello(student, {"classroom": small, "name": "Ada"}))
            assert ack["ok"], ack
            rebuilt_in, back_ack = await timed(back)
            assert back_ack["ok"], back_ack
            await teacher.close()
            await student.close()
            return alone, took, rebuilt_in
        alone, took, rebuilt_in = run(after())
        # another classroom's rebuild takes what it takes alone (on a busy machine, more
        # than the 1 s of an idle one), not the big one's
        assert took < max(1.0, 3 * alone), (took, alone)
        assert rebuilt_in < 10.0, rebuilt_in   # from the checkpoint: 60 M instructions not replayed
    finally:
        server.stop()


class Browser:
    """A browser's cookies and forms over plain HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, path: str, fields: dict) -> tuple[int, str, str]:
        """(status, page, final URL) after the form and its redirect."""
        token = re.search(r'name="csrf" value="([^"]+)"', self.get("/lessons")[1]).group(1)
        data = urllib.parse.urlencode({**fields, "csrf": token}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as r:
                return r.status, r.read().decode(), r.url
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), path


def test_the_lessons_page_lists_this_browsers_classrooms_and_ends_them(live):
    mine, other = Browser(live.url), Browser(live.url)
    status, _page, url = mine.post("/classrooms", {"lesson": LESSON})
    assert status == 200 and "/class/" in url
    code = urllib.parse.urlparse(url).path.rsplit("/", 1)[1]
    _, lessons = mine.get("/lessons")
    assert "Your open classrooms" in lessons and code in lessons
    assert code not in other.get("/lessons")[1]         # another browser's list is its own

    status, page, _ = other.post(f"/classrooms/{code}/end", {})
    assert status == 404 and styled(page) and "Not one of your classrooms" in page

    async def end_with_a_student_in():
        student = live.tab()
        assert (await hello(student, {"classroom": code, "name": "Ada"}))["ok"]
        told = student.expect(lambda name, body: name == "classroom" and "ended" in body)
        status, page, url = await asyncio.to_thread(mine.post, f"/classrooms/{code}/end", {})
        assert status == 200 and url.endswith("/lessons") and code not in page
        body = await asyncio.wait_for(told, 5)
        assert body["ended"] == "the instructor ended it"
        await student.close()
    run(end_with_a_student_in())
    status, page = live.get(f"/class/{code}")
    assert status == 404 and "has ended" in page
