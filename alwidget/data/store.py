"""Durable label storage: :class:`LabelStore`, an append-only journal in SQLite.

Every label is an event ``(item_id, label, split, source, time)`` appended to the
``events`` table and committed before :meth:`LabelStore.set` returns, so a kernel crash
loses nothing that was shown as saved. The current label of an item is its latest
effective ``set`` event; an undo is an event too (``kind = 'undo'``, pointing at the
``set`` it cancels). Reopening the same path resumes the session.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from alwidget.data.events import LABEL_SOURCES, LABEL_SPLITS, LabelEvent, LabelStoreError, _check_choice, _check_text
from alwidget.data.export import write_csv, write_json
from alwidget.data.journal import SCHEMA_VERSION, immediate_transaction, insert_event, open_journal

__all__ = [
    "LABEL_SOURCES",
    "LABEL_SPLITS",
    "SCHEMA_VERSION",
    "LabelEvent",
    "LabelStore",
    "LabelStoreError",
]

_RESERVED_PREFIX = "alwidget."

_SELECT_EVENTS = (
    "SELECT seq, item_id, label, split, source, time, kind, target_seq, group_seq FROM events "
)
"""The journal's rows, in the column order of :meth:`LabelStore._apply`."""

PathLike = Union[str, "os.PathLike[str]"]


class LabelStore:
    """An append-only journal of label events in an SQLite file.

    Parameters
    ----------
    path : str or os.PathLike or None, default None
        The database file, created if missing (its folder must exist). ``None`` or
        ``":memory:"`` keeps the labels in memory only.
    timeout : float, default 30.0
        Seconds to wait for another process holding the file's write lock.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    LabelStoreError
        If ``path`` is not an alwidget label store, or was written by a newer alwidget.

    Notes
    -----
    Each :meth:`set` and :meth:`undo` is committed (WAL journal, ``synchronous=FULL``)
    before it returns. One store may be used from several threads; several processes
    may open the same file, and each sees the others' labels.

    Examples
    --------
    >>> with LabelStore() as store:
    ...     _ = store.set("img_1", "cat")
    ...     _ = store.set("img_2", "dog", split="validation")
    ...     store.labels(), store.counts()
    ({'img_1': 'cat'}, {'train': 1, 'validation': 1})
    """

    def __init__(self, path: Optional[PathLike] = None, *, timeout: float = 30.0) -> None:
        self._lock = threading.RLock()
        self._conn: Optional[sqlite3.Connection] = None
        if path is None or (isinstance(path, str) and path == ":memory:"):
            self.path: Optional[Path] = None
            target = ":memory:"
        else:
            file = Path(os.fspath(path)).expanduser()
            if file.is_dir():
                raise LabelStoreError(
                    f"label store path {str(file)!r} is a folder; pass a file path such as "
                    f"{str(file / 'labels.sqlite')!r}"
                )
            if not file.parent.is_dir():
                raise FileNotFoundError(
                    f"cannot create label store {str(file)!r}: folder {str(file.parent)!r} "
                    "does not exist; create it first or pass another path"
                )
            self.path = file
            target = str(file)
        self._name = repr(str(self.path)) if self.path is not None else "in memory"
        self._reset_state()
        try:
            conn = sqlite3.connect(
                target, timeout=timeout, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise LabelStoreError(f"cannot open label store {self._name}: {exc}") from exc
        try:
            self._open(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    # -- opening --------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._active: Dict[int, LabelEvent] = {}  # not-undone 'set' events, in seq order
        self._stacks: Dict[str, List[LabelEvent]] = {}  # per item, not-undone sets
        self._last_seq = 0
        self._data_version: Optional[int] = None
        self._current_cache: Optional[List[LabelEvent]] = None

    def _open(self, conn: sqlite3.Connection) -> None:
        open_journal(conn, self._name)
        try:
            self._refresh(conn, force=True)
        except sqlite3.DatabaseError as exc:  # a journal damaged past its header
            raise LabelStoreError(f"cannot open label store {self._name}: {exc}") from exc

    # -- in-memory state ------------------------------------------------------------

    def _conn_or_raise(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LabelStoreError(
                f"label store {self._name} is closed; open it again with LabelStore(path)"
            )
        return self._conn

    def _refresh(self, conn: sqlite3.Connection, force: bool = False) -> None:
        """Apply events committed by other connections since the last look."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if not force and version == self._data_version:
            return
        self._data_version = version
        rows = conn.execute(
            _SELECT_EVENTS + "WHERE seq > ? ORDER BY seq", (self._last_seq,)
        ).fetchall()
        for row in rows:
            self._apply(row)

    def _apply(self, row: Tuple[Any, ...]) -> None:
        seq, item_id, label, split, source, when, kind, target, group = row
        self._last_seq = max(self._last_seq, seq)
        self._current_cache = None
        if kind == "set":
            event = LabelEvent(seq, item_id, label, split, source, when, group)
            self._active[seq] = event
            self._stacks.setdefault(item_id, []).append(event)
        elif kind == "undo":
            event = self._active.pop(target, None)
            if event is None:
                return
            stack = self._stacks[event.item_id]
            for i in range(len(stack) - 1, -1, -1):
                if stack[i].seq == event.seq:
                    del stack[i]
                    break
            if not stack:
                del self._stacks[event.item_id]

    def _current(self) -> List[LabelEvent]:
        """The current event of each labeled item, oldest first."""
        if self._current_cache is None:
            self._current_cache = sorted(
                (stack[-1] for stack in self._stacks.values()), key=lambda e: e.seq
            )
        return self._current_cache

    def _read(self) -> None:
        """Take the lock's holder up to date before a read."""
        self._refresh(self._conn_or_raise())

    def _write(self, sql: str, params: Tuple[Any, ...]) -> None:
        """Run one statement in its own committed transaction."""
        conn = self._conn_or_raise()
        with immediate_transaction(conn):
            conn.execute(sql, params)

    # -- writing --------------------------------------------------------------------

    def set(
        self, item_id: str, label: str, split: str = "train", source: str = "human"
    ) -> LabelEvent:
        """Give ``item_id`` the label ``label``; committed to disk before returning.

        Parameters
        ----------
        item_id : str
            The pool item id.
        label : str
            The class name. The store does not know the classes; the caller checks.
        split : {"train", "validation"}, default "train"
            Where the label is used.
        source : {"human", "suggestion", "oracle", "import", "review"}, default "human"
            Who gave it.

        Returns
        -------
        LabelEvent
            The stored event; it is now the item's current label.
        """
        _check_text("item_id", item_id)
        _check_text("label", label)
        _check_choice("split", split, LABEL_SPLITS)
        _check_choice("source", source, LABEL_SOURCES)
        with self._lock:
            conn = self._conn_or_raise()
            with immediate_transaction(conn):  # no other writer may slip in between
                self._refresh(conn)
                row = insert_event(conn, item_id, label, split, source, "set", None)
            self._apply(row)
            return self._active[row[0]]

    def set_many(self, item_ids: List[str], labels: List[str], splits: List[str], source: str = "human",
                 group: bool = False) -> List[LabelEvent]:
        """Give each of ``item_ids`` its label in one transaction: all on disk when this returns, or none.

        ``splits`` gives each item's split. ``group=True`` makes them one group
        (:attr:`LabelEvent.group`): undoing the latest label then takes them all back.
        """
        if not (len(item_ids) == len(labels) == len(splits)):
            raise ValueError(f"got {len(item_ids)} items, {len(labels)} labels and {len(splits)} splits")
        for item, label, split in zip(item_ids, labels, splits):
            _check_text("item_id", item)
            _check_text("label", label)
            _check_choice("split", split, LABEL_SPLITS)
        _check_choice("source", source, LABEL_SOURCES)
        if not item_ids:
            return []
        with self._lock:
            conn = self._conn_or_raise()
            with immediate_transaction(conn):
                self._refresh(conn)
                rows, first = [], None
                for item, label, split in zip(item_ids, labels, splits):
                    rows.append(insert_event(conn, item, label, split, source, "set", None,
                                              (0 if first is None else first) if group else None))
                    first = rows[0][0] if first is None else first
            for row in rows:
                self._apply(row)
            return [self._active[row[0]] for row in rows]

    def undo(self, item_id: Optional[str] = None) -> Optional[LabelEvent]:
        """Undo the most recent label (of ``item_id``, if given); committed before returning.

        The item's current label becomes its previous label that is not undone, or
        none. Undoing twice undoes two labels: an undo is never itself undone. The most recent
        label of a group (:meth:`set_many`) takes its whole group back (not with ``item_id``).

        Parameters
        ----------
        item_id : str, optional
            Undo the latest label of this item; default the latest label of any item.

        Returns
        -------
        LabelEvent or None
            The label event undone, or ``None`` when there is nothing left to undo.
        """
        if item_id is not None:
            _check_text("item_id", item_id)
        with self._lock:
            conn = self._conn_or_raise()
            with immediate_transaction(conn):  # no other writer may slip in between
                self._refresh(conn)
                if item_id is None:
                    target = next(reversed(self._active.values()), None)
                else:
                    stack = self._stacks.get(item_id)
                    target = stack[-1] if stack else None
                if target is None:
                    conn.execute("ROLLBACK")
                    return None
                undone = [target]
                if item_id is None and target.group is not None:  # the whole group, at once
                    undone = [e for e in self._active.values() if e.group == target.group]
                rows = [insert_event(conn, e.item_id, None, e.split, e.source, "undo", e.seq, e.group)
                        for e in undone]
            for row in rows:
                self._apply(row)
            return target

    # -- reading --------------------------------------------------------------------

    def labels(self, split: Optional[str] = "train") -> Dict[str, str]:
        """Current labels.

        Parameters
        ----------
        split : {"train", "validation"} or None, default "train"
            Only labels in this split; ``None`` for all.

        Returns
        -------
        dict of str to str
            ``item_id -> label``, in the order the labels were given.
        """
        if split is not None:
            _check_choice("split", split, LABEL_SPLITS)
        with self._lock:
            self._read()
            return {
                e.item_id: e.label for e in self._current() if split is None or e.split == split
            }

    def get(self, item_id: str) -> Optional[LabelEvent]:
        """The current label of one item.

        Parameters
        ----------
        item_id : str
            The pool item id.

        Returns
        -------
        LabelEvent or None
            Its latest label event that is not undone, or ``None`` if it has no label.
        """
        with self._lock:
            self._read()
            stack = self._stacks.get(item_id)
            return stack[-1] if stack else None

    def events(self, limit: Optional[int] = None) -> List[LabelEvent]:
        """The current label of each labeled item, most recent first.

        Labels replaced by a later label of the same item, and undone labels, are left
        out: this is the list a person edits ("recent labels").

        Parameters
        ----------
        limit : int, optional
            At most this many events.

        Returns
        -------
        list of LabelEvent
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        with self._lock:
            self._read()
            out = self._current()[::-1]
            return out if limit is None else out[:limit]

    def history(self) -> List[Tuple[str, LabelEvent, Optional[int]]]:
        """The whole journal, oldest first, including replaced and undone labels.

        Returns
        -------
        list of (kind, LabelEvent, target_seq)
            ``kind`` is ``"set"`` or ``"undo"``; for an undo the event's ``label`` is
            ``None`` and ``target_seq`` is the ``seq`` of the undone ``set``.
        """
        with self._lock:
            rows = self._conn_or_raise().execute(_SELECT_EVENTS + "ORDER BY seq").fetchall()
        return [(r[6], LabelEvent(*r[:6], group=r[8]), r[7]) for r in rows]

    def counts(self) -> Dict[str, int]:
        """Number of currently labeled items per split.

        Returns
        -------
        dict of str to int
            ``{"train": n, "validation": m}``; both keys are always present.
        """
        with self._lock:
            self._read()
            out = {split: 0 for split in LABEL_SPLITS}
            for stack in self._stacks.values():
                out[stack[-1].split] += 1
            return out

    def __len__(self) -> int:
        with self._lock:
            self._read()
            return len(self._stacks)

    def __contains__(self, item_id: object) -> bool:
        with self._lock:
            self._read()
            return item_id in self._stacks

    # -- metadata -------------------------------------------------------------------

    def get_meta(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """Read a metadata string stored by :meth:`set_meta`.

        Parameters
        ----------
        key : str
            The key.
        default : str, optional
            Returned when ``key`` was never set.

        Returns
        -------
        str or None
            The stored value, or ``default``.
        """
        _check_text("key", key)
        with self._lock:
            row = self._conn_or_raise().execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return row[0] if row is not None else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a metadata string (committed before returning); replaces an earlier value.

        Parameters
        ----------
        key : str
            The key. Keys starting with ``"alwidget."`` are reserved for the store itself.
        value : str
            The value; encode other types first (e.g. ``json.dumps``).
        """
        _check_text("key", key)
        if key.startswith(_RESERVED_PREFIX):
            raise ValueError(f"meta key {key!r} is reserved; use a key that does not start "
                             f"with {_RESERVED_PREFIX!r}")
        if not isinstance(value, str):
            raise TypeError(f"meta value for {key!r} must be a str, got {type(value).__name__}; "
                            "encode it first (e.g. json.dumps)")
        with self._lock:
            self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- export ---------------------------------------------------------------------

    def _records(self) -> List[Dict[str, Any]]:
        with self._lock:
            self._read()
            current = sorted(self._current(), key=lambda e: e.item_id)
        fields = ("item_id", "label", "split", "source", "time")
        return [{k: v for k, v in asdict(e).items() if k in fields} for e in current]

    def export_csv(self, path: PathLike) -> Path:
        """Write the current labels to a CSV file, sorted by item id.

        Columns: ``item_id, label, split, source, time`` (Unix seconds). The file is
        written whole or not at all.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if present).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return write_csv(self._records(), path)

    def export_json(self, path: PathLike) -> Path:
        """Write the current labels to a JSON file: a list of objects sorted by item id.

        Keys: ``item_id, label, split, source, time`` (Unix seconds).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if present).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return write_json(self._records(), path)

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Close the file. Calling it again does nothing; other methods then raise."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    @property
    def closed(self) -> bool:
        """bool: whether :meth:`close` has been called."""
        return self._conn is None

    def __enter__(self) -> "LabelStore":
        self._conn_or_raise()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._conn is None:
            return f"LabelStore({self._name}, closed)"
        counts = self.counts()
        return (f"LabelStore({self._name}, {counts['train']} train, "
                f"{counts['validation']} validation labels)")
