"""The database's tables, and the steps from earlier layouts: the first (one recipe per
classroom row) to the second (every kind of session, with checkpoints), then shares that
remember when they were last opened (so that unused ones expire)."""

from __future__ import annotations

import sqlite3

VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS session (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, head TEXT NOT NULL, checkpoint BLOB,
    covered INTEGER NOT NULL DEFAULT 0, touched REAL NOT NULL);
CREATE TABLE IF NOT EXISTS command (
    id TEXT NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (id, n));
CREATE TABLE IF NOT EXISTS classroom (
    code TEXT PRIMARY KEY, key_hash TEXT NOT NULL, lesson TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT -1, quiz TEXT, created REAL NOT NULL,
    touched REAL NOT NULL, ended TEXT, address TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS student (
    code TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, joined REAL NOT NULL,
    fork TEXT, PRIMARY KEY (code, id));
CREATE TABLE IF NOT EXISTS answer (
    code TEXT NOT NULL, step INTEGER NOT NULL, student TEXT NOT NULL, choice INTEGER NOT NULL,
    PRIMARY KEY (code, step, student));
CREATE TABLE IF NOT EXISTS refusal (
    code TEXT NOT NULL, at REAL NOT NULL, student TEXT, command TEXT NOT NULL,
    reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS share (
    id TEXT PRIMARY KEY, recipe TEXT NOT NULL, position INTEGER NOT NULL,
    created REAL NOT NULL, opened REAL);
"""


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a database written by an earlier version to this layout, in place."""
    if version < 2 and "recipe" in _columns(db, "classroom"):
        db.executescript("""
BEGIN;
ALTER TABLE command RENAME COLUMN code TO id;
CREATE TABLE session (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, head TEXT NOT NULL, checkpoint BLOB,
    covered INTEGER NOT NULL DEFAULT 0, touched REAL NOT NULL);
INSERT INTO session (id, kind, head, touched)
    SELECT code, 'classroom', recipe, created FROM classroom;
CREATE TABLE classroom_v2 (
    code TEXT PRIMARY KEY, key_hash TEXT NOT NULL, lesson TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT -1, quiz TEXT, created REAL NOT NULL,
    touched REAL NOT NULL, ended TEXT, address TEXT NOT NULL DEFAULT '');
INSERT INTO classroom_v2 (code, key_hash, lesson, position, quiz, created, touched)
    SELECT code, key_hash, lesson, position, quiz, created, created FROM classroom;
DROP TABLE classroom;
ALTER TABLE classroom_v2 RENAME TO classroom;
ALTER TABLE student ADD COLUMN fork TEXT;
COMMIT;
""")
    if version < 3 and "created" in _columns(db, "share") and \
            "opened" not in _columns(db, "share"):
        db.execute("ALTER TABLE share ADD COLUMN opened REAL")
