"""Tests for alwidget.data.store.LabelStore: semantics, durability, concurrency."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alwidget.data.store import LabelEvent, LabelStore, LabelStoreError

HERE = Path(__file__).resolve().parent


@pytest.fixture
def store():
    with LabelStore() as s:
        yield s


# ----------------------------------------------------------------------------- basics


def test_set_get_labels_counts_and_events(store):
    before = time.time()
    first = store.set("a", "cat")
    store.set("b", "dog", split="validation", source="oracle")
    last = store.set("a", "cow", source="suggestion")
    assert isinstance(first, LabelEvent)
    assert (first.item_id, first.label, first.split, first.source) == ("a", "cat", "train", "human")
    assert before <= first.time <= last.time <= time.time()
    assert first.seq < last.seq
    assert store.get("a") == last
    assert store.get("nobody") is None
    assert store.labels() == {"a": "cow"}
    assert store.labels("validation") == {"b": "dog"}
    assert store.labels(None) == {"b": "dog", "a": "cow"}
    assert len(store) == 2 and "a" in store and "c" not in store
    assert store.counts() == {"train": 1, "validation": 1}
    assert [(e.item_id, e.label) for e in store.events()] == [("a", "cow"), ("b", "dog")]
    assert store.events(limit=1) == [last]
    assert store.events(limit=0) == []


def test_relabel_moves_an_item_between_splits(store):
    store.set("a", "cat", split="validation")
    store.set("a", "cat", split="train")
    assert store.counts() == {"train": 1, "validation": 0}
    assert store.labels("validation") == {}


@pytest.mark.parametrize(
    "args, kwargs, error, pattern",
    [
        (("a", "cat"), {"split": "test"}, ValueError,
         r"split 'test' is not one of \['train', 'validation'\]"),
        (("a", "cat"), {"source": "pseudo"}, ValueError,
         r"source 'pseudo' is not one of \['human', 'suggestion', 'oracle', 'import', 'review', 'map'\]"),
        (("a", ""), {}, ValueError, r"label must not be empty"),
        (("a", 3), {}, TypeError, r"label must be a str, got int 3"),
        ((None, "cat"), {}, TypeError, r"item_id must be a str"),
        ((" ", "cat"), {}, ValueError, r"item_id must not be empty"),
    ],
)
def test_set_validates_its_arguments(store, args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        store.set(*args, **kwargs)
    assert len(store) == 0


def test_read_arguments_are_validated(store):
    with pytest.raises(ValueError, match="split 'val'"):
        store.labels("val")
    with pytest.raises(ValueError, match="limit must be a non-negative int"):
        store.events(limit=-1)


# ----------------------------------------------------------------------------- undo


def test_undo_without_item_walks_back_through_labels(store):
    store.set("a", "cat")
    store.set("b", "dog")
    store.set("a", "cow")
    undone = store.undo()
    assert (undone.item_id, undone.label) == ("a", "cow")
    assert store.labels() == {"a": "cat", "b": "dog"}
    assert store.undo().item_id == "b"  # undoing twice undoes two labels
    assert store.labels() == {"a": "cat"}
    assert store.undo().label == "cat"
    assert store.labels() == {} and len(store) == 0
    assert store.undo() is None
    kinds = [kind for kind, _, _ in store.history()]
    assert kinds == ["set", "set", "set", "undo", "undo", "undo"]


def test_undo_of_one_item(store):
    store.set("a", "one")
    store.set("a", "two")
    store.set("b", "x")
    assert store.undo("a").label == "two"
    assert store.get("a").label == "one"
    assert store.undo("b").label == "x"
    assert store.undo("b") is None
    assert store.undo("never-labeled") is None
    assert store.undo().label == "one"  # "two" and "x" are already undone
    assert store.undo() is None


def test_undo_is_an_event_pointing_at_its_target(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        target = store.set("a", "cat", split="validation")
        store.undo()
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT seq, item_id, label, split, kind, target_seq FROM events ORDER BY seq"
        ).fetchall()
    assert rows == [
        (target.seq, "a", "cat", "validation", "set", None),
        (target.seq + 1, "a", None, "validation", "undo", target.seq),
    ]


# ----------------------------------------------------------------------------- persistence


def test_reopening_resumes_labels_and_undo_state(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.set("a", "cat")
        store.set("b", "dog", split="validation")
        store.set("c", "cow")
        store.set("c", "bull")
        store.undo()  # c back to cow
        store.undo("a")
        events = store.events()
        store.set_meta("fingerprint", "abc123")
    with LabelStore(str(path)) as store:
        assert store.labels(None) == {"b": "dog", "c": "cow"}
        assert store.events() == events
        assert store.counts() == {"train": 1, "validation": 1}
        assert store.get_meta("fingerprint") == "abc123"
        assert store.undo().item_id == "c"  # the most recent label not yet undone
        assert store.get("c") is None
        new = store.set("d", "doe")
        assert new.seq > max(e.seq for e in events)


def test_schema_and_pragmas(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.set("a", "cat")
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.path == path
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in raw.execute("PRAGMA table_info(events)")]
        assert columns == ["seq", "item_id", "label", "split", "source", "time", "kind",
                           "target_seq", "group_seq"]
        assert [row[1] for row in raw.execute("PRAGMA table_info(meta)")] == ["key", "value"]


def test_meta(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        assert store.get_meta("seed") is None
        assert store.get_meta("seed", "none") == "none"
        store.set_meta("seed", "1")
        store.set_meta("seed", "2")
        store.set_meta("classes", json.dumps(["a", "b"]))
        with pytest.raises(ValueError, match="reserved"):
            store.set_meta("alwidget.format", "x")
        with pytest.raises(TypeError, match="json.dumps"):
            store.set_meta("seed", 3)
    with LabelStore(path) as store:
        assert store.get_meta("seed") == "2"
        assert json.loads(store.get_meta("classes")) == ["a", "b"]


def test_an_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "new.sqlite"
    path.write_bytes(b"")
    with LabelStore(path) as store:
        store.set("a", "cat")
    with LabelStore(path) as store:
        assert store.labels() == {"a": "cat"}


# ----------------------------------------------------------------------------- bad files


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "labels.sqlite"
    LabelStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 3")
    with pytest.raises(LabelStoreError, match=r"written by a newer alwidget .*upgrade alwidget"):
        LabelStore(path)


@pytest.mark.parametrize("content", [b"item_id,label\na,cat\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 200])
def test_a_file_that_is_not_sqlite_is_refused(tmp_path, content):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    with pytest.raises(LabelStoreError) as info:
        LabelStore(path)
    assert str(path) in str(info.value)
    assert "is not an alwidget label store (not an SQLite database" in str(info.value)
    assert path.read_bytes() == content  # left untouched


def test_another_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(LabelStoreError, match=r"other\.db' is not an alwidget label store .*\['users'\]"):
        LabelStore(path)
    marked = tmp_path / "versioned.db"
    with sqlite3.connect(marked) as raw:
        raw.execute("CREATE TABLE events (x)")
        raw.execute("CREATE TABLE meta (key, value)")
        raw.execute("PRAGMA user_version = 1")
    with pytest.raises(LabelStoreError, match="no alwidget format marker"):
        LabelStore(marked)


def test_missing_folder_and_folder_paths_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder '.*nowhere' does not exist; create it"):
        LabelStore(tmp_path / "nowhere" / "labels.sqlite")
    with pytest.raises(LabelStoreError, match="is a folder; pass a file path"):
        LabelStore(tmp_path)


def test_closed_store(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    store.set("a", "cat")
    store.close()
    store.close()  # idempotent
    assert store.closed
    assert "closed" in repr(store)
    for call in (lambda: store.set("b", "dog"), store.labels, store.undo, lambda: len(store),
                 lambda: store.get_meta("x"), lambda: store.export_csv(tmp_path / "x.csv")):
        with pytest.raises(LabelStoreError, match=r"labels\.sqlite' is closed; open it again"):
            call()
    with LabelStore(tmp_path / "labels.sqlite") as again:
        assert again.labels() == {"a": "cat"}
    assert again.closed


# ----------------------------------------------------------------------------- export


TRICKY = ["plain", "with, comma", 'with "quotes"', "two\nlines", "ünïcödé 猫", "=SUM(A1)"]


def _tricky_store(store):
    for i, label in enumerate(TRICKY):
        store.set(f"item-{9 - i}", label, split="validation" if i % 2 else "train")
    store.set("replaced", "old")
    store.set("replaced", "new", source="suggestion")
    store.set("undone", "gone")
    store.undo()


def test_export_csv_round_trips(store, tmp_path):
    _tricky_store(store)
    path = store.export_csv(tmp_path / "labels.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    current = sorted(store.events(), key=lambda e: e.item_id)
    assert [r["item_id"] for r in rows] == sorted(store.labels(None))
    assert len(rows) == len(TRICKY) + 1
    for row, event in zip(rows, current):
        assert set(row) == {"item_id", "label", "split", "source", "time"}
        assert (row["item_id"], row["label"], row["split"], row["source"]) == (
            event.item_id, event.label, event.split, event.source)
        assert float(row["time"]) == event.time  # full precision
    assert {r["label"] for r in rows} == set(TRICKY) | {"new"}


def test_export_json_round_trips(store, tmp_path):
    _tricky_store(store)
    path = store.export_json(tmp_path / "labels.json")
    records = json.loads(path.read_text(encoding="utf-8"))
    expected = [
        {"item_id": e.item_id, "label": e.label, "split": e.split, "source": e.source,
         "time": e.time}
        for e in sorted(store.events(), key=lambda e: e.item_id)
    ]
    assert records == expected
    assert [r["item_id"] for r in records][-2:] == ["item-9", "replaced"]
    assert records[-1]["label"] == "new" and records[-1]["source"] == "suggestion"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        store.export_json(tmp_path / "missing" / "labels.json")


# ----------------------------------------------------------------------------- concurrency


def test_two_threads_writing_lose_nothing(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    errors = []
    seen_sizes = []

    def write(prefix):
        try:
            for i in range(60):
                store.set(f"{prefix}-{i}", prefix)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read():
        for _ in range(60):
            seen_sizes.append(len(store.labels()))

    threads = [threading.Thread(target=write, args=(p,)) for p in ("x", "y")]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert seen_sizes == sorted(seen_sizes)  # the reader never saw labels disappear
    assert len(store) == 120
    seqs = [e.seq for e in store.events()]
    assert len(set(seqs)) == 120
    store.close()
    with LabelStore(tmp_path / "labels.sqlite") as reopened:
        assert reopened.labels() == {f"{p}-{i}": p for p in "xy" for i in range(60)}


def test_two_connections_to_one_file_see_each_other(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as one, LabelStore(path) as two:
        one.set("a", "cat")
        assert two.labels() == {"a": "cat"}

        def write_many(store, prefix):
            for i in range(30):
                store.set(f"{prefix}{i}", prefix)

        threads = [threading.Thread(target=write_many, args=(s, p)) for s, p in
                   ((one, "p"), (two, "q"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert one.labels() == two.labels()
        assert len(one) == 61
        two.set("a", "dog")
        assert one.undo().label == "dog"  # one undoes the label two gave last
        assert two.get("a").label == "cat"


# ----------------------------------------------------------------------------- kill test


def _run_and_kill(path: Path, acks_wanted: int) -> list:
    """Start the writer, read ``acks_wanted`` acknowledgements, SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "store_writer.py"), str(path), "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acks = []
    try:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        while len(acks) < acks_wanted:
            line = process.stdout.readline()
            assert line.startswith("ack "), (line, process.stderr.read())
            _, index, seq = line.split()
            acks.append((int(index), int(seq)))
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return acks


@pytest.mark.parametrize("acks_wanted", [1, 17, 60])
def test_labels_acknowledged_before_sigkill_survive(tmp_path, acks_wanted):
    sys.path.insert(0, str(HERE))
    try:
        from store_writer import label_of, split_of
    finally:
        sys.path.remove(str(HERE))
    path = tmp_path / "labels.sqlite"
    acks = _run_and_kill(path, acks_wanted)
    assert [index for index, _ in acks] == list(range(acks_wanted))
    with LabelStore(path) as store:
        for index, seq in acks:
            event = store.get(f"item-{index:05d}")
            assert event is not None, f"acknowledged label {index} was lost"
            assert (event.seq, event.label, event.split) == (seq, label_of(index), split_of(index))
        assert len(store) >= acks_wanted
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store.set("after", "restart")  # the file is still writable


# ----------------------------------------------------------------------------- property


class Reference:
    """The specification of set / undo, as a plain list of events."""

    def __init__(self):
        self.sets = []  # [seq, item, label, split, source, undone]
        self.seq = 0

    def set(self, item, label, split, source):
        self.seq += 1
        self.sets.append([self.seq, item, label, split, source, False])
        return self.seq

    def undo(self, item=None):
        live = [e for e in self.sets if not e[5] and (item is None or e[1] == item)]
        if not live:
            return None
        target = live[-1]
        target[5] = True
        self.seq += 1
        return target[0]

    def current(self):
        out = {}
        for event in self.sets:
            if not event[5]:
                out[event[1]] = event
        return sorted(out.values(), key=lambda e: e[0])

    def labels(self, split):
        return {e[1]: e[2] for e in self.current() if split is None or e[3] == split}


ITEMS = st.sampled_from(["a", "b", "c", "d"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), ITEMS, st.sampled_from(["x", "y", "z"]),
                  st.sampled_from(["train", "validation"]),
                  st.sampled_from(["human", "suggestion", "oracle", "import"])),
        st.tuples(st.just("undo"), st.none()),
        st.tuples(st.just("undo"), ITEMS),
    ),
    max_size=30,
)


def _check_against_reference(store, ops):
    ref = Reference()
    for op in ops:
        if op[0] == "set":
            event = store.set(*op[1:])
            assert event.seq == ref.set(*op[1:])
        else:
            undone = store.undo(op[1])
            expected = ref.undo(op[1])
            assert (undone.seq if undone is not None else None) == expected
        for split in ("train", "validation", None):
            assert store.labels(split) == ref.labels(split)
        assert [(e.seq, e.item_id, e.label, e.split, e.source) for e in store.events()] == [
            tuple(e[:5]) for e in reversed(ref.current())]
        assert len(store) == len(ref.current())
    return ref


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_set_and_undo_match_the_reference_model(ops):
    with LabelStore() as store:
        _check_against_reference(store, ops)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_reopened_store_matches_the_reference_model(ops):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "labels.sqlite"
        with LabelStore(path) as store:
            ref = _check_against_reference(store, ops)
        with LabelStore(path) as store:
            assert store.labels(None) == ref.labels(None)
            assert [e.seq for e in store.events()] == [e[0] for e in reversed(ref.current())]
            undone = store.undo()  # undo resumes where the first session stopped
            assert (undone.seq if undone is not None else None) == ref.undo()


# ----------------------------------------------------------------------------- groups


def test_a_group_is_written_at_once_and_undone_at_once(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.set("before", "cat")
        events = store.set_many(["a", "b", "c"], ["dog", "dog", "dog"], ["train", "train", "validation"],
                                source="map", group=True)
        assert [e.group for e in events] == [events[0].seq] * 3 and events[0].source == "map"
        store.set("after", "cow", source="human")
        assert store.undo().item_id == "after"  # a label of its own: alone
        store.set("b", "eel")  # b relabelled by hand since: its own label, not the group's
        assert store.undo().item_id == "b" and store.get("b").label == "dog"
    with LabelStore(path) as store:  # reopened: the group is still one
        assert store.get("a").group == store.get("c").group == events[0].seq
        undone = store.undo()
        assert undone.group == events[0].seq and store.labels(split=None) == {"before": "cat"}
        history = store.history()
        assert [(k, e.item_id) for k, e, _ in history[-3:]] == [("undo", "a"), ("undo", "b"), ("undo", "c")]
        assert store.undo().item_id == "before"
        assert store.set_many([], [], []) == []
        with pytest.raises(ValueError, match="3 items, 2 labels and 3 splits"):
            store.set_many(["x", "y", "z"], ["a", "b"], ["train"] * 3)
        with pytest.raises(ValueError, match="split 'test'"):
            store.set_many(["x"], ["a"], ["test"])
        assert store.labels(split=None) == {}  # nothing written by the refused calls
    ungrouped = LabelStore().set_many(["p", "q"], ["a", "b"], ["train", "train"])
    assert [e.group for e in ungrouped] == [None, None]


def test_a_version_1_store_is_upgraded_and_keeps_its_labels(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as raw:  # the version-1 layout, as alwidget wrote it before groups
        raw.executescript("""
            CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, label TEXT,
                split TEXT NOT NULL, source TEXT NOT NULL, time REAL NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('set', 'undo')), target_seq INTEGER REFERENCES events (seq));
            CREATE INDEX events_item ON events (item_id, seq);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('alwidget.format', 'alwidget-labels');
            INSERT INTO events (item_id, label, split, source, time, kind) VALUES ('a', 'cat', 'train', 'human', 1.0, 'set');
            PRAGMA user_version = 1;
        """)
    with LabelStore(path) as store:
        assert store.labels() == {"a": "cat"} and store.get("a").group is None
        store.set_many(["b", "c"], ["dog", "dog"], ["train", "train"], source="map", group=True)
        store.undo()
        assert store.labels() == {"a": "cat"}
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
