"""A classroom in two real browsers: the lesson in a drawer beside the machine, the
student's page while following (controls disabled, the shared session's settings), a
quiz answer acknowledged and marked, checkpoints in words, fork and follow, ending a
classroom; axe-core on the instructor's and the student's page, /lessons and /join."""

from __future__ import annotations

import pytest

from tests.browser_helpers import (
    Tab,
    assert_axe_clean,
    shot,
    wait_js,
)

playwright_api = pytest.importorskip("playwright.sync_api")


def open_classroom(browser, server, lesson: str, width=1920, height=1080):
    teacher = Tab(browser, server.url + "/lessons", width, height)
    assert_axe_clean(teacher.page, "/lessons")
    teacher.page.locator(".lesson-list form", has_text=lesson).locator("button").click()
    teacher.page.wait_for_selector("body[data-role=instructor]")
    code = teacher.page.locator("#lesson-code").inner_text()
    return teacher, code


def join(browser, server, code: str, name: str, width=1366, height=768) -> Tab:
    student = Tab(browser, server.url + "/join", width, height)
    student.page.fill("input[name=code]", code.lower())
    student.page.click("button[type=submit]")
    student.page.wait_for_selector("#join-name")
    # waiting to join there is no session: nothing offers to step, run or edit one
    assert all(student.page.locator(b).is_disabled()
               for b in ("#btn-step", "#btn-run", "#btn-back"))
    student.page.fill("#join-name", name)
    student.page.click("#join-form button")
    student.page.wait_for_selector("body[data-role=student]")
    student.page.wait_for_selector("#native li.program")
    return student


def position(page) -> str:
    return page.locator("#lesson-progress").inner_text()


# whether the quiz's question is inside the lesson drawer's part of the screen
QUIZ_ON_VIEW = """() => { const d = document.querySelector('#lesson').getBoundingClientRect();
  const q = document.querySelector('#quiz p').getBoundingClientRect();
  return q.top >= d.top && q.bottom <= Math.min(d.bottom, innerHeight); }"""


def test_the_students_page_while_following_and_the_quiz(server, browser):
    teacher, code = open_classroom(browser, server, "Why memory errors matter")
    student = join(browser, server, code, "Ada")
    t, s = teacher.page, student.page
    try:
        wait_js(t, "document.querySelector('#roster').textContent.includes('Ada')")
        # the header's count is the roster's
        assert t.locator("#lesson-students").inner_text() == "1 student"
        # the lesson is a drawer beside the machine, at most about a third of the screen
        for page, width in ((t, 1920), (s, 1366)):
            box = page.locator("#lesson").bounding_box()
            assert box["width"] <= width / 3 + 1, box
            assert page.locator("[data-panel=code]").bounding_box()["x"] >= box["width"] - 1
        # following: every control that would change the shared session is disabled
        changing = s.evaluate("[...document.querySelectorAll('[data-changes], #example, #mirror,"
                              " #offset, #compare')].filter((e) => !e.disabled"
                              " && !e.readOnly).map((e) => e.id || e.outerHTML.slice(0, 60))")
        assert changing == []
        assert s.locator("#follow-note").is_visible()
        # a student's Fork is on the laptop's first screen, whatever the step's text
        fork = s.locator("[data-act=fork]").bounding_box()
        assert fork and fork["y"] + fork["height"] <= 768, fork
        assert s.locator("#source").get_attribute("readonly") is not None
        # the dropdowns show the shared session's values: the lesson's own program is custom
        assert s.input_value("#mirror") == t.input_value("#mirror")
        assert s.input_value("#example") == t.input_value("#example")
        assert_axe_clean(t, "the instructor's page")
        assert_axe_clean(s, "the student's page")

        t.click("[data-act=advance]")
        wait_js(s, "document.querySelector('#lesson-progress').textContent.startsWith('step 1')")
        t.click("[data-act=advance]")
        wait_js(s, "document.querySelector('#lesson-progress').textContent.startsWith('step 2')")
        # the step's panel is marked (with words, not colour alone) and on the screen
        focused = s.locator(".panel.focused")
        assert focused.get_attribute("data-panel") == "memory"
        box = focused.bounding_box()
        assert box["y"] >= 0 and box["y"] + 40 <= 768
        assert s.evaluate("window.scrollY") == 0
        s.set_viewport_size({"width": 1366, "height": 600})   # a short laptop screen
        fork = s.locator("[data-act=fork]").bounding_box()  # Fork is still on it, at the top
        assert fork and fork["y"] + fork["height"] <= 600 and s.evaluate(
            "document.querySelector('#lesson').scrollTop") == 0, fork
        t.click("[data-act=quiz_open]")
        s.wait_for_selector("#quiz button[data-act=answer]")
        # the quiz comes last in the drawer, below its fold: it is brought into view
        assert s.evaluate(QUIZ_ON_VIEW), "the student does not see the quiz open"
        s.locator("#quiz button[data-act=answer]").nth(1).click()
        s.wait_for_selector(".quiz-ack")
        assert "B recorded" in s.locator(".quiz-ack").inner_text()
        wait_js(t, "document.querySelector('#roster').textContent.includes('B: 1')")
        wait_js(t, "document.querySelector('#quiz .quiz-count')")   # and in the quiz itself
        assert t.locator("#quiz .quiz-count").inner_text() == "1 answer so far"
        t.click("[data-act=quiz_close]")
        wait_js(s, "document.querySelector('#quiz h3').textContent.includes('answer')")
        mine = s.locator("#quiz li.mine")
        assert mine.count() == 1 and "your answer" in mine.inner_text()
        assert "0x8a00004" in s.locator("#quiz li.right").inner_text()
        # the question's `table` is set as code, as in the lesson's narrative
        assert s.locator("#quiz p code").first.inner_text() == "table"
        shot(s, "classroom-student-quiz", full_page=False)
        shot(t, "classroom-instructor-quiz", full_page=False)

        # a fork brings the controls alive; following again disables them
        s.click("[data-act=fork]")
        s.wait_for_selector("body[data-following=false]")
        wait_js(s, "!document.querySelector('#btn-step').disabled")
        assert s.locator("#follow-note").is_hidden()
        # ... and the checkpoints describe the fork, checked again as it moves on
        wait_js(s, "document.querySelector('#lesson-checks').textContent"
                   ".includes('On your own copy')")
        s.check("#inject-kinds input[value=silent]")   # the fork's mirror now differs
        s.fill("#inject-target", "table")
        s.click("#btn-inject")
        wait_js(s, "document.querySelector('#lesson-checks li.fail') !== null", timeout=15)
        assert "differs" in s.locator("#lesson-checks li.fail").inner_text()
        assert t.locator("#lesson-checks li.fail").count() == 0   # the class's still pass
        # the class moves on: the forked student's own view is not moved to its panel
        s.evaluate("document.querySelector('#main').scrollTop = 0")
        t.click("[data-act=advance]")
        wait_js(s, "document.querySelector('#lesson-progress').textContent.startsWith('step 3')")
        assert s.locator(".panel.focused").count() == 0
        assert s.evaluate("document.querySelector('#main').scrollTop") == 0
        s.click("[data-act=follow]")
        s.wait_for_selector("body[data-following=true]")
        s.wait_for_selector(".panel.focused")   # following again: the class's panel is back
        wait_js(s, "document.querySelector('#btn-step').disabled")
        # the drawer collapses (and its key, l, opens it again)
        s.click("#lesson-toggle")
        assert s.locator("#lesson-inner").is_hidden()
        assert s.locator("#lesson").bounding_box()["width"] < 80
        s.locator("h1").click()
        s.keyboard.press("l")
        assert s.locator("#lesson-inner").is_visible()
    finally:
        assert teacher.close() == [] and student.close() == []


def test_checkpoints_read_as_words(server, browser):
    teacher, _code = open_classroom(browser, server, "Page tables by hypercall")
    t = teacher.page
    try:
        for n in (1, 2):
            t.click("[data-act=advance]")
            wait_js(t, f"document.querySelector('#lesson-progress').textContent"
                    f".startsWith('step {n}')", timeout=30)
        checks = t.locator("#lesson-checks").inner_text()
        assert "the log has a page-table update in VM 1" in checks, checks
        assert "[" not in checks
        assert "rax is 0x13 (19)" in checks
        for line in checks.splitlines():   # what was seen is said only where it adds
            said = line.split(": ", 1)[-1]
            assert " — " not in said or said.split(" — ")[0] != said.split(" — ")[1], line
    finally:
        assert teacher.close() == []


def test_the_instructor_ends_the_classroom_and_the_lessons_page_forgets_it(server, browser):
    teacher, code = open_classroom(browser, server, "Why memory errors matter")
    student = join(browser, server, code, "Ada")
    t, s = teacher.page, student.page
    mine = teacher.context.new_page()      # the same browser: it knows its classrooms
    try:
        mine.goto(server.url + "/lessons")
        listed = mine.locator(".my-classrooms li", has_text=code)
        assert listed.count() == 1
        # ending it from the list takes a second click
        end = listed.locator("button[type=submit]")
        assert not end.is_visible()
        listed.locator("summary").click()
        assert end.is_visible() and end.inner_text() == f"End classroom {code}"
        assert_axe_clean(mine, "/lessons with an open classroom")
        t.once("dialog", lambda d: d.accept())
        t.click("[data-act=end]")
        for page in (t, s):
            page.wait_for_selector("#lesson-ended:not([hidden])")
            said = page.locator("#lesson-ended").inner_text()
            assert said.startswith("This classroom has ended: the instructor ended it."), said
            assert page.locator("#lesson-ended a[href='/']").count() == 1
        assert t.locator("#teach-controls").is_hidden()
        assert s.locator("#student-controls").is_hidden()
        note = s.locator("#follow-note").inner_text()
        assert "has ended" in note and "instructor drives" not in note
        assert s.locator("#btn-step").is_disabled()
        shot(s, "classroom-ended-student-1366", full_page=False)
        mine.reload()
        assert mine.locator(".my-classrooms li", has_text=code).count() == 0
    finally:
        mine.close()
        assert teacher.close() == [] and student.close() == []


def test_the_join_page_is_accessible(server, browser):
    tab = Tab(browser, server.url + "/join", 1366, 768)
    assert_axe_clean(tab.page, "/join")
    tab.page.fill("input[name=code]", "ZZZZZZ")
    tab.page.click("button[type=submit]")
    tab.page.wait_for_selector(".problem")
    assert_axe_clean(tab.page, "/join with an error")
    assert tab.close() == []
