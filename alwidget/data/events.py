"""A label event and its checks: what :class:`~alwidget.data.store.LabelStore` journals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

__all__ = ["LABEL_SOURCES", "LABEL_SPLITS", "LabelEvent", "LabelStoreError"]

LABEL_SPLITS: Tuple[str, ...] = ("train", "validation")
"""Where a label is used: training, or the held-out validation set."""

LABEL_SOURCES: Tuple[str, ...] = ("human", "suggestion", "oracle", "import", "review", "map")
"""Who gave a label: a person; a person accepting the model's suggestion; a simulated
oracle (known truth); an import from a file; a person checking a label flagged as likely
wrong ("Check my labels": a confirmation repeats the label, a correction changes it); a person
labelling a selected region of the pool's map at once (a group of labels, undone together).
Pseudo-labels are never stored."""


class LabelStoreError(ValueError):
    """A label store file cannot be used: not a store, too new, or closed."""


@dataclass(frozen=True)
class LabelEvent:
    """One label given to one item.

    Attributes
    ----------
    seq : int
        Position in the journal (increasing; unique within a store).
    item_id : str
        The pool item id.
    label : str
        The class name.
    split : str
        ``"train"`` or ``"validation"``.
    source : str
        One of :data:`LABEL_SOURCES`.
    time : float
        When it was given, in Unix seconds.
    group : int or None
        Labels given together as one group (:meth:`LabelStore.set_many` with ``group=True``, e.g.
        a region of the map) share the ``seq`` of the group's first event here; an undo of the
        latest label takes the whole group back. ``None``: a label of its own.
    """

    seq: int
    item_id: str
    label: str
    split: str
    source: str
    time: float
    group: Optional[int] = None


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty or blank, got {value!r}")
    return value


def _check_choice(name: str, value: Any, choices: Tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} {value!r} is not one of {list(choices)}; pass one of them")
    return str(value)
