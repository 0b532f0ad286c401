"""LabelSession: the labels, the classes and the validation set, without a model."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from alwidget import ImagePool
from alwidget.data.store import LabelStore
from alwidget.session import LabelSession, seed_for


@pytest.fixture
def pool():
    rng = np.random.default_rng(0)
    return ImagePool.from_arrays(rng.integers(0, 255, (20, 8, 8), dtype=np.uint8),
                                 truth=[("a", "b", "c")[i % 3] for i in range(20)], classes=["a", "b", "c"])


def test_the_session_imports_no_model_code():
    import alwidget.session as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"__future__", "json", "os", "threading", "typing", "warnings", "numpy",
                        "alwidget.data.pool", "alwidget.data.store"}, imported


def test_validation_set_is_chosen_once_and_kept_by_the_store(pool, tmp_path):
    with LabelStore(tmp_path / "l.db") as store:
        first = LabelSession(pool, None, store, validation_size=5, seed=3)
        assert len(first.validation_ids) == 5 and len(set(first.validation_ids)) == 5
        assert first.validation_ids == sorted(first.validation_ids, key=pool.ids.index)
        # another seed or size does not move a validation set the store already holds
        again = LabelSession(pool, None, store, validation_size=9, seed=4)
        assert again.validation_ids == first.validation_ids
    with LabelStore(None) as other:
        assert LabelSession(pool, None, other, validation_size=5, seed=3).validation_ids == first.validation_ids
    assert seed_for(3, 1) == seed_for(3, 1) != seed_for(4, 1)


def test_default_validation_size_and_bounds(pool):
    assert len(LabelSession(pool, None, LabelStore(None)).validation_ids) == 10  # min(100, max(10, 20 // 10))
    with pytest.raises(ValueError, match=r"validation_size must be in \[0, 19\]"):
        LabelSession(pool, None, LabelStore(None), validation_size=20)


def test_teach_checks_every_label_first_and_routes_validation_items(pool):
    s = LabelSession(pool, None, LabelStore(None), validation_size=4, seed=0)
    val = s.validation_ids[0]
    train = next(i for i in pool.ids if i not in s.validation_ids)
    with pytest.raises(ValueError, match="not one of the classes"):
        s.teach([train, val], ["a", "zebra"])
    assert s.store.labels(split=None) == {} and s.version == 0  # nothing written
    with pytest.raises(ValueError, match="not a class index 0..2"):
        s.teach(train, 3)
    with pytest.raises(KeyError, match="not in the pool"):
        s.teach("nope", "a")
    s.teach([train, val], [2, "b"])
    assert s.labels == {train: "c"} and s.store.labels(split="validation") == {val: "b"}
    assert s.version == 2 and val not in s.pending_validation() and len(s.pending_validation()) == 3
    pos, y = s.arrays("train")
    assert pos.tolist() == [pool.ids.index(train)] and y.tolist() == [2]
    given = s.training_labels_N()
    assert given.shape == (20,) and given[pool.ids.index(train)] == 2 and (given >= 0).sum() == 1
    sel = s.selectable_N(failed=[0])
    assert not sel[0] and not sel[pool.ids.index(train)]
    assert not any(sel[pool.ids.index(v)] for v in s.validation_ids)
    blocked = {0, pool.ids.index(train), *(pool.ids.index(v) for v in s.validation_ids)}
    assert np.flatnonzero(~sel).tolist() == sorted(blocked)
    assert s.undo().item_id == val and s.version == 3 and s.undo(train).item_id == train
    assert s.undo() is None and s.version == 4


def test_a_store_of_another_pool_or_other_classes_is_refused(pool, tmp_path):
    path = tmp_path / "l.db"
    with LabelStore(path) as store:
        LabelSession(pool, None, store, validation_size=2).teach(pool.ids[5], "a")
    other = ImagePool.from_arrays(np.zeros((20, 8, 8), dtype=np.uint8), ids=[f"x{i}" for i in range(20)],
                                  classes=["a", "b", "c"])
    with LabelStore(path) as store, pytest.raises(ValueError, match="belongs to a different pool"):
        LabelSession(other, None, store)
    with LabelStore(path) as store, pytest.raises(ValueError, match="was made with classes"):
        LabelSession(pool, ["a", "b"], store)


@pytest.mark.parametrize("classes, message", [([], "no classes"), (["a", "a"], "unique and non-empty"),
                                              (["a", " "], "unique and non-empty"), (["a"], "at least two")])
def test_bad_classes_are_refused_before_the_store_is_touched(pool, classes, message):
    with pytest.raises(ValueError, match=message):
        LabelSession.check_classes(classes, pool)
    assert LabelSession.check_classes(None, pool) == ["a", "b", "c"]


def test_label_validation_from_truth(pool):
    s = LabelSession(pool, None, LabelStore(None), validation_size=4, seed=1)
    s.label_validation_from_truth()
    assert s.pending_validation() == []
    assert all(s.store.labels(split="validation")[i] == pool.truth[i] for i in s.validation_ids)
    bare = ImagePool.from_arrays(np.zeros((20, 8, 8), dtype=np.uint8), classes=["a", "b"])
    with pytest.raises(ValueError, match="known truth"):
        LabelSession(bare, None, LabelStore(None), validation_size=2).label_validation_from_truth()


def test_confirm_repeats_the_label_as_a_review_and_writes_nothing_on_a_bad_item(pool):
    s = LabelSession(pool, None, LabelStore(None), validation_size=2, seed=0)
    item = next(i for i in pool.ids if i not in s.validation_ids)
    other = next(i for i in pool.ids if i not in s.validation_ids and i != item)
    s.teach(item, "b", source="suggestion")
    with pytest.raises(KeyError, match="no label to confirm"):
        s.confirm([item, other])
    assert s.store.get(item).source == "suggestion"  # nothing written
    (event,) = s.confirm(item)
    assert (event.item_id, event.label, event.split, event.source) == (item, "b", "train", "review")
    assert s.labels == {item: "b"}
