"""The label store's SQLite journal: its schema, opening (create, upgrade, refuse) and appending.

:class:`~alwidget.data.store.LabelStore` keeps the journal's state in memory and its API; this
module holds what touches the file's layout: the ``events`` and ``meta`` tables, the schema
version in ``PRAGMA user_version`` and its upgrades, one-writer transactions, and one appended row.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Tuple

from alwidget.data.events import LabelStoreError

__all__ = ["SCHEMA_VERSION", "immediate_transaction", "insert_event", "open_journal"]

SCHEMA_VERSION: int = 2
"""Version of the store's SQLite schema, kept in ``PRAGMA user_version``. Version 2 added the
events' ``group_seq`` (labels given as one group); a version-1 store gains it when opened."""

_FORMAT_KEY = "alwidget.format"
_FORMAT = "alwidget-labels"

_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    label TEXT,
    split TEXT NOT NULL,
    source TEXT NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('set', 'undo')),
    target_seq INTEGER REFERENCES events (seq),
    group_seq INTEGER
);
CREATE INDEX events_item ON events (item_id, seq);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (no other writer may slip in), ``COMMIT`` at the end of the block.

    Any exception rolls back and propagates. A block may end the transaction itself
    (e.g. ``ROLLBACK`` when there is nothing to write); it is then not committed.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def insert_event(
    conn: sqlite3.Connection,
    item_id: str,
    label: Optional[str],
    split: str,
    source: str,
    kind: str,
    target_seq: Optional[int],
    group: Optional[int] = None,
) -> Tuple[Any, ...]:
    """Append one event stamped now; return its row as :data:`_SELECT_EVENTS` gives it.

    ``group=0`` starts a group: the event's own ``seq`` becomes its ``group_seq``."""
    when = time.time()
    cursor = conn.execute(
        "INSERT INTO events (item_id, label, split, source, time, kind, target_seq, group_seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (item_id, label, split, source, when, kind, target_seq, group or None),
    )
    seq = int(cursor.lastrowid)  # type: ignore[arg-type]
    if group == 0:
        group = seq
        conn.execute("UPDATE events SET group_seq = ? WHERE seq = ?", (seq, seq))
    return (seq, item_id, label, split, source, when, kind, target_seq, group)


def open_journal(conn: sqlite3.Connection, name: str) -> None:
    """Make ``conn`` a label store's journal: create the schema in a new (empty) file, upgrade an
    older one, and refuse anything else with a :class:`LabelStoreError` that says what to pass.
    ``name`` names the file in messages."""
    def not_a_store(why: str) -> LabelStoreError:
        return LabelStoreError(f"{name} is not an alwidget label store ({why}); pass the path of a label "
                               "store or of a new file")

    try:
        conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute("PRAGMA synchronous=FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            with immediate_transaction(conn):
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    tables = _tables(conn) - {"sqlite_sequence"}
                    if tables:
                        raise not_a_store(
                            f"an SQLite database with other tables: {sorted(tables)}"
                        )
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 (_FORMAT_KEY, _FORMAT))
                    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 ("alwidget.created", repr(time.time())))
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    version = SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise LabelStoreError(
                f"label store {name} was written by a newer alwidget (schema version "
                f"{version}; this alwidget reads version {SCHEMA_VERSION}); upgrade "
                "alwidget (pip install -U alwidget) to open it"
            )
        if version < 0:
            raise not_a_store(f"unknown schema version {version}")
        tables = _tables(conn)
        if not {"events", "meta"} <= tables:
            raise not_a_store(f"tables {sorted(tables)}")
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_FORMAT_KEY,)).fetchone()
        if row is None or row[0] != _FORMAT:
            raise not_a_store("no alwidget format marker")
        if version < SCHEMA_VERSION:
            _upgrade(conn)
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "not a database" in text or "malformed" in text or "encrypted" in text:
            raise not_a_store(f"not an SQLite database: {text}") from exc
        raise LabelStoreError(f"cannot open label store {name}: {text}") from exc


def _upgrade(conn: sqlite3.Connection) -> None:
    """Version 1 → 2: add ``group_seq`` (older events belong to no group)."""
    with immediate_transaction(conn):
        if conn.execute("PRAGMA user_version").fetchone()[0] == 1:  # another process may have done it
            conn.execute("ALTER TABLE events ADD COLUMN group_seq INTEGER")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _tables(conn: sqlite3.Connection) -> set:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}
