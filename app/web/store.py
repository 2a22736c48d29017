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

import contextlib
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
        self.read_only: str | None = None  # why the file cannot be written, while so
        self.on_lost: Callable[[], None] | None = None  # re-save everything
        self._lock = threading.Lock()
        self._db = self._open()
        self.problem = self.read_only

    # -- the file
    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            with contextlib.suppress(OSError):  # a place that cannot be written: below
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            if self.path != ":memory:" and not self._writable():
                # SQLite opens a file it cannot write without a word, and fails later
                # said to every tab: where the file is stays in the server's log
                self.read_only = ("the database cannot be written (a read-only file "
                                  "system, or no permission): nothing new is saved "
                                  "until it can be")
                log.error("%s: %s", self.path, self.read_only)
            return db
        except sqlite3.DatabaseError as e:
            if self.path == ":memory:":
                raise
            if not self._writable():
                return self._read_only(e)
            if not os.path.exists(self.path):
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
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version < VERSION:
                migrate(db, version)
            db.executescript(SCHEMA)
            if version != VERSION:
                db.execute(f"PRAGMA user_version={VERSION}")
            db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error:
            db.close()
            raise
        self._inode = self._file_id()
        return db

    def _writable(self) -> bool:
        """Whether the file (or, before it exists, its folder) takes writes: not on a
        read-only file system, not without the permission."""
        folder = os.path.dirname(os.path.abspath(self.path))
        exists = os.path.exists(self.path)
        return os.access(folder, os.W_OK) and (not exists or os.access(self.path, os.W_OK))

    def _read_only(self, e: Exception) -> sqlite3.Connection:
        """The database cannot be written: what it holds is read from it as it is (a
        restart's sessions come back), nothing new is saved, and the problem is said
        until the file can be written again (then everything is written whole)."""
        self.read_only = (f"the database cannot be written ({str(e).replace(self.path, '…')}): "
                          "the sessions it holds are read, nothing new is saved until it can be")
        log.error("%s: %s", self.path, self.read_only)
        if os.path.exists(self.path):
            for options in ("mode=ro", "mode=ro&immutable=1"):  # immutable: no -shm
                try:
                    db = sqlite3.connect(f"file:{self.path}?{options}", uri=True,
                                         check_same_thread=False, isolation_level=None)
                    db.execute("PRAGMA quick_check").fetchone()
                    self._inode = self._file_id()
                    return db
                except sqlite3.Error:
                    continue
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.executescript(SCHEMA)  # nothing to read: the tables, empty, in memory
        self._inode = None
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

    def _reopened(self) -> bool:
        """Before a write: a connection to the file as it is now, if the file was lost
        (deleted, replaced) or could not be written and now can; True if so (what the
        server holds must then be written again whole)."""
        if self.read_only is None and self._still_there():
            return False
        if self.read_only is not None and not self._writable():
            return False
        if self.read_only is None:
            log.error("the database file %s was deleted or replaced: re-creating it",
                      self.path)
        self._db.close()
        try:
            self._db = self._connect()
        except sqlite3.Error as e:
            self._db = self._read_only(e)
            return False
        if self.read_only is not None:
            log.warning("the database %s takes writes again", self.path)
        self.read_only = None
        return True

    # -- every statement goes through here
    def _run(self, work: Callable[[sqlite3.Connection], object], write: bool):
        with self._lock:
            lost = write and self._reopened()
            try:
                result = work(self._db)
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self.problem = self.read_only or \
                    f"{type(e).__name__}: {str(e).replace(self.path, '…')}"
                log.error("database %s failed: %s", "write" if write else "read", e)
                if write:
                    return None
                raise StoreError(f"the server's database cannot be read ({e})") from None
            # (writes into a stand-in while read-only recover nothing)
            recovered = write and self.read_only is None and (self.problem is not None or lost)
            if write:
                self.problem = self.read_only
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

    def status(self, where: bool = False) -> dict:
        """Whether it works, and what is wrong if not; `where`: its file too (for the
        machine's own operator, not for every tab)."""
        out = {"ok": self.problem is None, "problem": self.problem, "damaged": self.damaged}
        if where:
            out["path"] = self.path
        return out

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
        """The recipe file shared under `sid`, or None; an opened link lives on."""
        rows = self._read("SELECT recipe FROM share WHERE id = ?", (sid,))
        if not rows:
            return None
        self._write(("UPDATE share SET opened = ? WHERE id = ?", (time.time(), sid)))
        return json.loads(rows[0][0])

    def has_share(self, sid: str) -> bool:
        return bool(self._read("SELECT 1 FROM share WHERE id = ?", (sid,)))

    # -- what nobody uses any more
    def expire(self, sessions_before: float, shares_before: float,
               keep: set[str]) -> tuple[list[str], int]:
        """Forget solo and forked sessions saved last before `sessions_before` (not the
        ones in `keep`: held in memory) and links last opened before `shares_before`:
        the sessions' ids, and how many links."""
        stale = [i for (i,) in self._read(
            "SELECT id FROM session WHERE kind != 'classroom' AND touched < ?",
            (sessions_before,)) if i not in keep]
        for sid in stale:
            self.forget_session(sid)
        (links,), = self._read("SELECT COUNT(*) FROM share WHERE COALESCE(opened, created) "
                               "< ?", (shares_before,))
        self._write(("DELETE FROM share WHERE COALESCE(opened, created) < ?",
                     (shares_before,)))
        return stale, links
