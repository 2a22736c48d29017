"""SQLite: what must survive a server restart — every session (a classroom's, a solo
workspace, a student's fork) as a recipe (its head in one row, its commands one row
each, so that a step adds one row) with a checkpoint of its state now and then;
classrooms, their students and quiz answers; the log of refused student commands.

The server works from memory and writes through: when the database fails (read-only,
damaged, deleted under it) it says so (`status`, the health check, a warning in the
page) and goes on serving; a write that failed is written again whole once the
database works again, and a database file that was deleted or replaced is
re-created from what the server holds.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.web.schema_sql import SCHEMA, VERSION, migrate

log = logging.getLogger("kmemvisor.store")


class StoreError(Exception):
    """The database could not answer (the message says why and what still works)."""


class Store:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problem: str | None = None    # the latest failure, until a write works
        self.damaged: str | None = None    # a damaged file found at start, kept aside
        self.on_lost: Callable[[], None] | None = None  # re-save everything
        self._lock = threading.Lock()
        self._db = self._open()

    # -- the file
    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            if self.path == ":memory:" or not os.path.exists(self.path):
                raise
            aside = f"{self.path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(self.path, aside)
            for tail in ("-wal", "-shm"):
                if os.path.exists(self.path + tail):
                    os.replace(self.path + tail, aside + tail)
            self.damaged = f"the database could not be read ({e}); it was kept as {aside}"
            log.error("%s; starting with a new one", self.damaged)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=5)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < VERSION:
            migrate(db, version)
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version={VERSION}")
        db.execute("PRAGMA quick_check").fetchone()
        self._inode = self._file_id()
        return db

    def _file_id(self):
        if self.path == ":memory:":
            return None
        st = os.stat(self.path)
        return st.st_dev, st.st_ino

    def _still_there(self) -> bool:
        """False if the file was deleted or replaced under the open connection (SQLite
        would go on writing to the old one, and lose it all at the next start)."""
        if self.path == ":memory:":
            return True
        try:
            return self._file_id() == self._inode
        except OSError:
            return False

    # -- every statement goes through here
    def _run(self, work: Callable[[sqlite3.Connection], object], write: bool):
        with self._lock:
            lost = write and not self._still_there()
            if lost:
                log.error("the database file %s was deleted or replaced: re-creating it",
                          self.path)
                self._db.close()
                self._db = self._connect()
            try:
                result = work(self._db)
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self.problem = f"{type(e).__name__}: {e}"
                log.error("database %s failed: %s", "write" if write else "read", e)
                if write:
                    return None
                raise StoreError(f"the server's database cannot be read ({e})") from None
            recovered = write and (self.problem is not None or lost)
            if write:
                self.problem = None
        if recovered and self.on_lost is not None:
            self.on_lost()  # what failed or was lost is written again, whole
        return result

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._run(lambda db: db.execute(sql, args).fetchall(), write=False)

    def _write(self, *statements: tuple[str, tuple]) -> bool:
        """All in one transaction; False if it failed (the problem is kept)."""
        def work(db):
            db.execute("BEGIN")
            for sql, args in statements:
                if isinstance(args, list):
                    db.executemany(sql, args)
                else:
                    db.execute(sql, args)
            db.execute("COMMIT")
            return True
        return bool(self._run(work, write=True))

    def status(self) -> dict:
        return {"ok": self.problem is None, "problem": self.problem, "damaged": self.damaged,
                "path": self.path}

    # -- sessions
    def save_session(self, sid: str, kind: str, head: str | None, keep: int,
                     new: list[list], drop_checkpoint: bool) -> bool:
        """The session's head (JSON; None: unchanged since the last save); its
        commands from number `keep` on become `new`."""
        now = time.time()
        if head is None:
            stmts = [("UPDATE session SET touched = ? WHERE id = ?", (now, sid))]
        else:
            stmts = [("INSERT INTO session (id, kind, head, touched) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT(id) DO UPDATE SET head = excluded.head, "
                      "touched = excluded.touched", (sid, kind, head, now))]
        stmts += [("DELETE FROM command WHERE id = ? AND n >= ?", (sid, keep)),
                  ("INSERT INTO command VALUES (?, ?, ?)",
                   [(sid, keep + i, json.dumps(e)) for i, e in enumerate(new)])]
        if drop_checkpoint:
            stmts.append(("UPDATE session SET checkpoint = NULL, covered = 0 WHERE id = ?",
                          (sid,)))
        return self._write(*stmts)

    def save_checkpoint(self, sid: str, blob: bytes, covered: int) -> bool:
        return self._write(("UPDATE session SET checkpoint = ?, covered = ? WHERE id = ?",
                            (blob, covered, sid)))

    def session(self, sid: str) -> dict | None:
        """{kind, recipe, checkpoint, covered} of a saved session, or None."""
        rows = self._read("SELECT kind, head, checkpoint, covered FROM session WHERE id = ?",
                          (sid,))
        if not rows:
            return None
        kind, head, checkpoint, covered = rows[0]
        recipe = json.loads(head)
        recipe["history"] = [json.loads(e) for (e,) in self._read(
            "SELECT entry FROM command WHERE id = ? ORDER BY n", (sid,))]
        return {"kind": kind, "recipe": recipe, "checkpoint": checkpoint, "covered": covered}

    def forget_session(self, sid: str) -> None:
        self._write(("DELETE FROM command WHERE id = ?", (sid,)),
                    ("DELETE FROM session WHERE id = ?", (sid,)))

    # -- classrooms
    def add_classroom(self, code: str, key_hash: str, lesson: str, address: str) -> bool:
        now = time.time()
        return self._write(("INSERT INTO classroom (code, key_hash, lesson, position, "
                            "created, touched, address) VALUES (?, ?, ?, -1, ?, ?, ?)",
                            (code, key_hash, lesson, now, now, address)))

    def classroom(self, code: str) -> dict | None:
        rows = self._read("SELECT key_hash, lesson, position, quiz, ended FROM classroom "
                          "WHERE code = ?", (code,))
        if not rows:
            return None
        key_hash, lesson, position, quiz, ended = rows[0]
        return {"code": code, "key_hash": key_hash, "lesson": lesson, "position": position,
                "quiz": json.loads(quiz) if quiz else None, "ended": ended}

    def save_classroom(self, code: str, position: int, quiz: dict | None) -> bool:
        return self._write(("UPDATE classroom SET position = ?, quiz = ?, touched = ? "
                            "WHERE code = ?", (position, json.dumps(quiz) if quiz else None,
                                               time.time(), code)))

    def end_classroom(self, code: str, why: str) -> bool:
        return self._write(("UPDATE classroom SET ended = ? WHERE code = ?", (why, code)),
                           ("DELETE FROM command WHERE id = ?", (code,)),
                           ("DELETE FROM session WHERE id = ?", (code,)))

    def live_classrooms(self, address: str | None = None) -> list[str]:
        sql = "SELECT code FROM classroom WHERE ended IS NULL"
        args: tuple = ()
        if address is not None:
            sql, args = sql + " AND address = ?", (address,)
        return [c for (c,) in self._read(sql, args)]

    def idle_classrooms(self, before: float) -> list[str]:
        return [c for (c,) in self._read("SELECT code FROM classroom WHERE ended IS NULL "
                                         "AND touched < ?", (before,))]

    def touch_classroom(self, code: str) -> None:
        self._write(("UPDATE classroom SET touched = ? WHERE code = ?", (time.time(), code)))

    # -- students and answers
    def add_student(self, code: str, sid: str, name: str) -> None:
        self._write(("INSERT OR REPLACE INTO student (code, id, name, joined) "
                     "VALUES (?, ?, ?, ?)", (code, sid, name, time.time())))

    def student(self, code: str, sid: str) -> tuple[str, str | None] | None:
        """(name, fork workspace or None) of a student."""
        rows = self._read("SELECT name, fork FROM student WHERE code = ? AND id = ?",
                          (code, sid))
        return (rows[0][0], rows[0][1]) if rows else None

    def set_fork(self, code: str, sid: str, fork: str | None) -> None:
        self._write(("UPDATE student SET fork = ? WHERE code = ? AND id = ?",
                     (fork, code, sid)))

    def answer(self, code: str, step: int, student: str, choice: int) -> None:
        self._write(("INSERT OR REPLACE INTO answer VALUES (?, ?, ?, ?)",
                     (code, step, student, choice)))

    def clear_answers(self, code: str, step: int) -> None:
        self._write(("DELETE FROM answer WHERE code = ? AND step = ?", (code, step)))

    def tally(self, code: str, step: int) -> dict[int, int]:
        return dict(self._read("SELECT choice, COUNT(*) FROM answer WHERE code = ? AND "
                               "step = ? GROUP BY choice", (code, step)))

    def refused(self, code: str, student: str | None, command: str, reason: str) -> None:
        self._write(("INSERT INTO refusal VALUES (?, ?, ?, ?, ?)",
                     (code, time.time(), student, command, reason)))

    def refusals(self, code: str) -> list[tuple]:
        return self._read("SELECT student, command, reason FROM refusal WHERE code = ? "
                          "ORDER BY at", (code,))

    # -- shared sessions (a recipe file under a random id)
    def add_share(self, sid: str, document: str, position: int) -> bool:
        return self._write(("INSERT INTO share (id, recipe, position, created) "
                            "VALUES (?, ?, ?, ?)", (sid, document, position, time.time())))

    def share(self, sid: str) -> dict | None:
        """The recipe file shared under `sid`, or None."""
        rows = self._read("SELECT recipe FROM share WHERE id = ?", (sid,))
        return json.loads(rows[0][0]) if rows else None

    def has_share(self, sid: str) -> bool:
        return bool(self._read("SELECT 1 FROM share WHERE id = ?", (sid,)))
