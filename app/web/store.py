"""SQLite: what must survive a server restart — classrooms (with their session as a
recipe: its head in the classroom row, its commands one row each, so that a step adds
one row instead of rewriting the history), their students and quiz answers, and the
log of refused student commands."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS classroom (
    code TEXT PRIMARY KEY, key_hash TEXT NOT NULL, lesson TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0, quiz TEXT, recipe TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS command (
    code TEXT NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (code, n));
CREATE TABLE IF NOT EXISTS student (
    code TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, joined REAL NOT NULL,
    PRIMARY KEY (code, id));
CREATE TABLE IF NOT EXISTS answer (
    code TEXT NOT NULL, step INTEGER NOT NULL, student TEXT NOT NULL, choice INTEGER NOT NULL,
    PRIMARY KEY (code, step, student));
CREATE TABLE IF NOT EXISTS refusal (
    code TEXT NOT NULL, at REAL NOT NULL, student TEXT, command TEXT NOT NULL,
    reason TEXT NOT NULL);
"""


class Store:
    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def _do(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # classrooms
    def add_classroom(self, code: str, key_hash: str, lesson: str, head: dict) -> None:
        self._do("INSERT INTO classroom (code, key_hash, lesson, position, recipe, created) "
                 "VALUES (?, ?, ?, -1, ?, ?)", (code, key_hash, lesson, json.dumps(head),
                                                time.time()))

    def classroom(self, code: str) -> dict | None:
        rows = self._do("SELECT key_hash, lesson, position, quiz, recipe FROM classroom "
                        "WHERE code = ?", (code,))
        if not rows:
            return None
        key_hash, lesson, position, quiz, head = rows[0]
        recipe = json.loads(head)
        recipe["history"] = [json.loads(e) for (e,) in self._do(
            "SELECT entry FROM command WHERE code = ? ORDER BY n", (code,))]
        return {"code": code, "key_hash": key_hash, "lesson": lesson, "position": position,
                "quiz": json.loads(quiz) if quiz else None, "recipe": recipe}

    def save_state(self, code: str, position: int, quiz: dict | None, head: dict,
                   keep: int, new: list[list]) -> None:
        """The classroom's state; its commands from number `keep` on become `new`."""
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            db.execute("UPDATE classroom SET position = ?, quiz = ?, recipe = ? WHERE code = ?",
                       (position, json.dumps(quiz) if quiz else None, json.dumps(head), code))
            db.execute("DELETE FROM command WHERE code = ? AND n >= ?", (code, keep))
            db.executemany("INSERT INTO command VALUES (?, ?, ?)",
                           [(code, keep + i, json.dumps(e)) for i, e in enumerate(new)])
            db.execute("COMMIT")

    # students and answers
    def add_student(self, code: str, sid: str, name: str) -> None:
        self._do("INSERT OR REPLACE INTO student VALUES (?, ?, ?, ?)",
                 (code, sid, name, time.time()))

    def student(self, code: str, sid: str) -> str | None:
        rows = self._do("SELECT name FROM student WHERE code = ? AND id = ?", (code, sid))
        return rows[0][0] if rows else None

    def answer(self, code: str, step: int, student: str, choice: int) -> None:
        self._do("INSERT OR REPLACE INTO answer VALUES (?, ?, ?, ?)",
                 (code, step, student, choice))

    def clear_answers(self, code: str, step: int) -> None:
        self._do("DELETE FROM answer WHERE code = ? AND step = ?", (code, step))

    def tally(self, code: str, step: int) -> dict[int, int]:
        rows = self._do("SELECT choice, COUNT(*) FROM answer WHERE code = ? AND step = ? "
                        "GROUP BY choice", (code, step))
        return dict(rows)

    def refused(self, code: str, student: str | None, command: str, reason: str) -> None:
        self._do("INSERT INTO refusal VALUES (?, ?, ?, ?, ?)",
                 (code, time.time(), student, command, reason))

    def refusals(self, code: str) -> list[tuple]:
        return self._do("SELECT student, command, reason FROM refusal WHERE code = ? "
                        "ORDER BY at", (code,))
