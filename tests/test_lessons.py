"""Lessons: every lesson in lessons/ passes `kmemvisor check`; mistakes in a lesson are
reported at their file and line; narrative Markdown cannot inject script."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main as cli
from app.lessons import check_lesson, load

LESSONS = sorted((Path(__file__).parents[1] / "lessons").glob("*.md"))

GOOD = '''---
title: A tiny lesson
goals: [one]
example: sum_array
compare: true
---
Intro.

## Run it

Narrative with `code`.

```lesson
focus: code
do:
  - run to fill
  - step 2
check:
  - at line 7
  - mirror equals native
quiz:
  question: "Q?"
  choices: ["a", "b"]
  answer: 1
```

## To the end

```lesson
do: [run]
check:
  - exit code 1240
  - vm 2 exited
```
'''


def test_the_curriculum_has_ten_lessons_or_more():
    assert len(LESSONS) >= 10



def test_the_curriculum_s_quizzes_cannot_be_answered_by_a_pattern():
    """A class learns a pattern within a few quizzes: the right answer always first, or
    always the longest and most careful choice. Neither may give the answers away."""
    quizzes = [s.quiz for p in LESSONS for s in load(p).steps if s.quiz]
    assert len(quizzes) >= 20
    places = [q.answer for q in quizzes]
    assert max(places.count(k) for k in set(places)) <= 0.45 * len(quizzes), places
    longest = [q.question for q in quizzes  # the one longest choice (a tie tells nothing)
               if sorted(len(c) for c in q.choices)[-2] < len(q.choices[q.answer])]
    assert len(longest) <= 0.4 * len(quizzes), longest

def write(tmp_path: Path, text: str, name: str = "lesson.md") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_lesson_checks(path):
    assert check_lesson(str(path)) == []


def test_a_sound_lesson_parses_into_steps(tmp_path):
    lesson = load(write(tmp_path, GOOD))
    assert [s.title for s in lesson.steps] == ["Run it", "To the end"]
    assert lesson.steps[0].quiz.answer == 1
    assert lesson.steps[0].focus == "code"
    assert check_lesson(str(tmp_path / "lesson.md")) == []


@pytest.mark.parametrize("change, line, words", [
    (("goals: [one]", "goals: [one]\ntitel: typo"), 4, "unknown key"),
    (("  - step 2", "  - stpe 2"), 17, "unknown action 'stpe 2'"),
    (("  - at line 7", "  - at line 8"), 19,
     "checkpoint 'at line 8' failed: VM 1 is at line 7"),
    (("  - mirror equals native", "  - mirror equalz native"), 20, "unknown checkpoint"),
    (("  answer: 1", "  answer: 2"), 24, "quiz answer 2"),
    (("example: sum_array", "program: missing.s"), 4, "not found beside the lesson"),
    (("focus: code", "focus: [code"), 14, "YAML"),
    (("  - run to fill", "  - run to nowhere"), 16, "no such line, label or instruction"),
    (("compare: true", "compare: yes please"), 5, "compare"),
    (('choices: ["a", "b"]', 'choices: ["a", "b", "c", "d", "e", "f", "g"]'), 23,
     "7 items here; it takes 2 to 6"),
])
def test_mistakes_are_reported_at_their_line(tmp_path, change, line, words):
    path = write(tmp_path, GOOD.replace(*change))
    problems = check_lesson(path)
    assert problems, change
    assert problems[0].startswith(f"{path}:{line}:"), problems
    assert words in problems[0]


def test_a_program_that_does_not_assemble_names_its_line(tmp_path):
    text = GOOD.replace("example: sum_array", "program: |\n  main:\n    frobnicate %eax\n")
    problems = check_lesson(write(tmp_path, text))
    assert "line 2" in problems[0] and "frobnicate" in problems[0]


def test_narrative_cannot_carry_script(tmp_path):
    text = GOOD.replace("Narrative with `code`.", "<script>alert(1)</script>\n"
                        "[x](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**")
    html = load(write(tmp_path, text)).steps[0].html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "<strong>bold</strong>" in html


def test_check_command(tmp_path, capsys):
    good = write(tmp_path, GOOD, "good.md")
    bad = write(tmp_path, GOOD.replace("exit code 1240", "exit code 7"), "bad.md")
    assert cli(["check", good]) == 0
    assert cli(["check", good, bad]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out and f"{bad}:32: checkpoint 'exit code 7' failed" in out


def test_an_item_with_a_colon_gets_a_hint(tmp_path):
    text = GOOD.replace("  - mirror equals native", '  - console shows "puts: hello"')
    problems = check_lesson(write(tmp_path, text))
    assert problems[0].startswith(f"{tmp_path}/lesson.md:20:")
    assert "single quotes" in problems[0]


def test_a_count_of_one_is_said_in_the_singular():
    from app.lessons.wording import counter_words
    assert counter_words("machine_checks", 1) == "machine check"
    assert counter_words("recoveries", 1) == "recovery"
    assert counter_words("recoveries", 2) == counter_words("recoveries") == "recoveries"
