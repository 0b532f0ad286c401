"""The labels of one labelling session: classes, the label store, the validation set.

:class:`LabelSession` is the learner's label book-keeping, apart from any model: it binds a
:class:`~alwidget.data.store.LabelStore` to a pool and its classes (refusing a store made for
another pool or other classes), chooses and keeps the validation set, checks and writes labels,
and turns the stored labels into position arrays for training. It holds no model and imports
no model code (numpy and the data layer only), so a tool that only reads or writes labels (an
export, a review screen, a test) can use it alone.
"""

from __future__ import annotations

import json
import os
import warnings
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from alwidget.data.pool import ImagePool
from alwidget.data.store import LabelStore

__all__ = ["LabelSession", "seed_for"]


def seed_for(*parts: int) -> int:
    """A 32-bit seed derived from ``parts`` (the learner's seed and a purpose), stable across runs."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


class LabelSession:
    """The labels of ``pool`` in ``store``, with classes ``classes`` and a validation set.

    Parameters
    ----------
    pool : ImagePool
        The items (their ids give the positions ``0..N-1``).
    classes : sequence of str, optional
        The class names, unique and non-empty, at least two; default ``pool.classes``.
    store : LabelStore
        Where labels are journaled (bound to the pool and the classes on first use).
    validation_size : int, optional
        Size of the random validation set when the store has none yet (default
        ``min(100, max(10, N // 10))``).
    seed : int
        Chooses the validation set.

    Raises
    ------
    ValueError
        A store made for another pool or other classes, or holding labels that are not classes;
        a validation size outside ``[0, N-1]``.
    """

    def __init__(self, pool: ImagePool, classes: Optional[Sequence[str]], store: LabelStore, *,
                 validation_size: Optional[int] = None, seed: int = 0) -> None:
        self.pool = pool
        self.classes: List[str] = self.check_classes(classes, pool)
        self.class_index: Dict[str, int] = {c: i for i, c in enumerate(self.classes)}
        self.positions: Dict[str, int] = {item: i for i, item in enumerate(pool.ids)}
        """Each pool id's position ``0..N-1``."""
        self.store = store
        self.lock = threading.RLock()
        self.version = 0
        """Increases with every label or undo made through this session."""
        self._bind_store()
        self.validation_ids: List[str] = self._choose_validation(validation_size, seed)

    @staticmethod
    def open_store(store: Union[LabelStore, str, "os.PathLike[str]", None]) -> LabelStore:
        """``store`` as a :class:`LabelStore`: a path opens (or resumes) a SQLite store; ``None``
        makes one in memory, with a ``UserWarning`` that its labels die with the kernel."""
        if store is None:
            warnings.warn("labels live in memory only and are lost when the kernel stops; "
                          "pass store='labels.db' to keep them", UserWarning, stacklevel=3)
            return LabelStore(None)
        return store if isinstance(store, LabelStore) else LabelStore(store)

    @staticmethod
    def check_classes(classes: Optional[Sequence[str]], pool: ImagePool) -> List[str]:
        """``classes`` (or the pool's) as a list of names; raises unless unique, non-empty, two or more."""
        classes = list(classes) if classes is not None else (list(pool.classes) if pool.classes else None)
        if not classes:
            raise ValueError("no classes: pass classes=['cat', 'dog', ...] (the pool has none)")
        if len(set(classes)) != len(classes) or any(not str(c).strip() for c in classes):
            raise ValueError(f"class names must be unique and non-empty, got {classes}")
        if len(classes) < 2:
            raise ValueError(f"at least two classes are needed, got {classes}")
        return [str(c) for c in classes]

    # ------------------------------------------------------------------ the store and the validation set
    def _bind_store(self) -> None:
        fp = self.pool.fingerprint()
        saved_fp = self.store.get_meta("pool_fingerprint")
        if saved_fp is not None and saved_fp != fp:
            raise ValueError(
                f"the label store {str(self.store.path)!r} belongs to a different pool (fingerprint {saved_fp[:12]} "
                f"vs {fp[:12]}); open a new store file for this pool, or use the pool it was made with")
        saved_classes = self.store.get_meta("classes")
        if saved_classes is not None and json.loads(saved_classes) != self.classes:
            raise ValueError(
                f"the label store {str(self.store.path)!r} was made with classes {json.loads(saved_classes)}, "
                f"not {self.classes}; pass the same classes or open a new store file")
        if saved_fp is None:
            self.store.set_meta("pool_fingerprint", fp)
        if saved_classes is None:
            self.store.set_meta("classes", json.dumps(self.classes))
        unknown = {item: lab for item, lab in self.store.labels(split=None).items() if lab not in self.class_index}
        if unknown:
            shown = ", ".join(f"item {item!r} -> {lab!r}" for item, lab in sorted(unknown.items())[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ValueError(
                f"the label store {str(self.store.path)!r} holds labels that are not classes {self.classes}: "
                f"{shown}{more}; pass classes that include them, or undo those labels "
                "(LabelStore(path).undo(item))")

    def _choose_validation(self, size: Optional[int], seed: int) -> List[str]:
        saved = self.store.get_meta("validation_ids")
        if saved is not None:
            return [i for i in json.loads(saved) if i in self.positions]
        n = len(self.pool)
        if size is None:
            size = min(100, max(10, n // 10))
        size = int(size)
        if not 0 <= size < n:
            raise ValueError(f"validation_size must be in [0, {n - 1}] for a pool of {n}, got {size}")
        rng = np.random.default_rng(seed_for(seed, 1))
        ids = [self.pool.ids[i] for i in sorted(rng.choice(n, size=size, replace=False).tolist())]
        self.store.set_meta("validation_ids", json.dumps(ids))
        return ids

    def label_validation_from_truth(self) -> None:
        """Label the validation items from ``pool.truth`` (simulations), source ``"oracle"``."""
        truth = self.pool.truth
        if truth is None:
            raise ValueError("validation_from_truth=True needs a pool with known truth (pool.truth)")
        have = self.store.labels(split="validation")
        for item in self.validation_ids:
            if item not in have and truth.get(item) is not None:
                self.store.set(item, truth[item], split="validation", source="oracle")

    def pending_validation(self) -> List[str]:
        """Validation items that still need a label, in the validation set's order."""
        have = self.store.labels(split="validation")
        return [i for i in self.validation_ids if i not in have]

    # ------------------------------------------------------------------ labels
    def check_label(self, item: str, label: Union[str, int]) -> str:
        """The class name ``label`` (a name or an index) stands for; raises for an unknown item or class."""
        if item not in self.positions:
            raise KeyError(f"item {item!r} is not in the pool; use one of learner.pool.ids")
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < len(self.classes):
                raise ValueError(f"label {int(label)} for item {item!r} is not a class index "
                                 f"0..{len(self.classes) - 1}")
            return self.classes[int(label)]
        if str(label) not in self.class_index:
            raise ValueError(f"label {label!r} for item {item!r} is not one of the classes {self.classes}; "
                             "use one of them")
        return str(label)

    def teach(self, ids: Union[str, Sequence[str]], labels: Union[str, int, Sequence[Union[str, int]]],
              source: str = "human", group: bool = False) -> list:
        """Store labels (each on disk when this returns); validation items go to the validation split.

        Every label is checked before any is written, so a bad one stores nothing. ``group=True``
        writes them in one transaction as one group (one undo takes them all back). Returns the
        stored :class:`~alwidget.data.store.LabelEvent` objects.
        """
        if isinstance(ids, str):
            ids, labels = [ids], [labels]
        ids = list(ids)
        labels = list(labels) if not isinstance(labels, (str, int, np.integer)) else [labels]
        if len(ids) != len(labels):
            raise ValueError(f"got {len(ids)} ids but {len(labels)} labels; give one label per id")
        checked = [self.check_label(str(i), lab) for i, lab in zip(ids, labels)]
        validation = set(self.validation_ids)
        if group:
            events = self.store.set_many([str(i) for i in ids], checked,
                                         ["validation" if i in validation else "train" for i in ids], source, group=True)
            with self.lock:
                self.version += 1
            return events
        events = []
        for item, label in zip(ids, checked):
            split = "validation" if item in validation else "train"
            events.append(self.store.set(str(item), label, split=split, source=source))
            with self.lock:
                self.version += 1
        return events

    def undo(self, item_id: Optional[str] = None):
        """Undo the latest label (or the latest label of ``item_id``); the undone event or ``None``."""
        if item_id is not None and item_id not in self.positions:
            raise KeyError(f"item {item_id!r} is not in the pool")
        event = self.store.undo(item_id)
        if event is not None:
            with self.lock:
                self.version += 1
        return event

    def confirm(self, ids: Union[str, Sequence[str]]) -> list:
        """Mark items' current labels as checked: a ``"review"`` event repeating each label.

        Returns the stored events. Raises ``KeyError`` for an unknown or unlabelled item; every
        item is checked before any event is written.
        """
        ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        current = []
        for item in ids:
            if item not in self.positions:
                raise KeyError(f"item {item!r} is not in the pool; use one of learner.pool.ids")
            event = self.store.get(item)
            if event is None:
                raise KeyError(f"item {item!r} has no label to confirm; label it with teach() first")
            current.append(event)
        return [self.store.set(e.item_id, e.label, split=e.split, source="review") for e in current]

    @property
    def labels(self) -> Dict[str, str]:
        """Current training labels ``{id: class}``."""
        return self.store.labels(split="train")

    # ------------------------------------------------------------------ as arrays
    def training_labels_N(self) -> np.ndarray:
        """``[N]`` int: the class index of each item's training label, ``-1`` for none."""
        out = np.full(len(self.pool), -1, dtype=np.int64)
        for item, label in self.store.labels(split="train").items():
            if item in self.positions and label in self.class_index:
                out[self.positions[item]] = self.class_index[label]
        return out

    def arrays(self, split: str) -> Tuple[np.ndarray, np.ndarray]:
        """Positions ``[L]`` and class indices ``[L]`` of the labels of ``split`` (``"train"`` or
        ``"validation"``), in the store's order; labels of items not in the pool are left out."""
        given = self.store.labels(split=split)
        items = [i for i in given if i in self.positions]
        pos = np.array([self.positions[i] for i in items], dtype=np.int64)
        y = np.array([self.class_index[given[i]] for i in items], dtype=np.int64)
        return pos, y

    def selectable_N(self, failed: Sequence[int] = ()) -> np.ndarray:
        """``[N]`` bool: items a query may return (no label in any split, not in the validation
        set, not among the unreadable positions ``failed``)."""
        mask = np.ones(len(self.pool), dtype=bool)
        for item in self.store.labels(split=None):
            if item in self.positions:
                mask[self.positions[item]] = False
        for item in self.validation_ids:
            mask[self.positions[item]] = False
        for p in failed:
            mask[p] = False
        return mask


class LabelMethods:
    """The label methods of :class:`~alwidget.ActiveLearner` (``teach``, ``undo``, ``labels``, the
    validation set), each handed to its :class:`LabelSession` (``self.session``)."""

    @property
    def validation_ids(self) -> List[str]:
        """Ids of the validation set (labelled first; never queried for training)."""
        return list(self._validation_ids)

    def pending_validation(self) -> List[str]:
        """Validation items that still need a label."""
        return self.session.pending_validation()

    def teach(self, ids: Union[str, Sequence[str]], labels: Union[str, int, Sequence[Union[str, int]]],
              source: str = "human", group: bool = False) -> list:
        """Label items; each label is on disk when this returns.

        Parameters
        ----------
        ids : str or sequence of str
            Pool ids (one, or several).
        labels : class name or index, or a sequence of them
            One per id.
        source : str
            ``"human"`` (typed), ``"suggestion"`` (an accepted model suggestion), ``"oracle"``,
            ``"review"`` (a correction made while checking labels: see :meth:`label_issues`) or
            ``"map"`` (a region of the pool's map labelled at once).
        group : bool
            Write them in one transaction as one group: the next :meth:`undo` takes them all back
            (also after reopening the store).

        Returns
        -------
        list of LabelEvent
            The stored events. Items of the validation set go to the validation split.
        Every label is checked before any is written, so a bad one stores nothing.
        """
        return self.session.teach(ids, labels, source=source, group=group)

    def undo(self, item_id: Optional[str] = None):
        """Undo the latest label (or the latest label of ``item_id``); returns the undone event or None.

        The latest label of a group (``teach(..., group=True)``) takes the whole group back."""
        return self.session.undo(item_id)

    @property
    def labels(self) -> Dict[str, str]:
        """Current training labels ``{id: class}``."""
        return self.session.labels

    @property
    def labels_version(self) -> int:
        """Increases with every label or undo in this session."""
        return self.session.version
