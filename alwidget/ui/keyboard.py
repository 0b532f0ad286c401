"""Keyboard labeling: which key does what.

The board (:mod:`alwidget.ui.board`) listens for keys while its grid has the keyboard focus
(a click on a card or Tab gives it, Escape or a click elsewhere takes it; JupyterLab's own
shortcuts are suppressed meanwhile). It handles the keys that only move the focus or pick a
class itself, at once in the page, and sends the others as ``{"type": "keydown", "key": ...}``
to the kernel, as :meth:`LabelingWidget.press` does; :class:`KeyMap` turns that into a
:class:`KeyAction` that the widget carries out. The mapping holds no widget and no learner,
so it is tested on its own.

=================  ==========================================================
key                action
=================  ==========================================================
← → ↑ ↓, Tab       move between cards (↑ ↓ by one row)
1 … 9, 0           label the current card (see :func:`~alwidget.ui.cards.class_keys`)
``/``              type a class name or number, then Enter (any number of classes)
a                  accept the model's suggestion for the current card
A (Shift+a)        accept the suggestion of every unlabelled card shown
s                  skip the current card
Enter              submit the batch (review: next page of suggestions)
Backspace          undo the latest label
r                  retrain now
o                  simulation only: answer the batch from the known truth
Escape             leave typing; else leave the grid (keys go back to the notebook)
?                  show or hide this help
=================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

from .cards import class_keys

__all__ = ["KEY_HELP", "KeyAction", "KeyMap"]

KEY_HELP = [
    ("← → ↑ ↓", "move between cards"),
    ("1…9, 0", "label the current card"),
    ("/", "type a class name or number, then Enter"),
    ("a", "accept the model's suggestion"),
    ("A", "accept every suggestion shown"),
    ("s", "skip the card"),
    ("c", "Check my labels: the label is right, keep it"),
    ("Enter", "submit the batch (review, check: next page)"),
    ("Backspace", "undo the latest label"),
    ("r", "retrain now"),
    ("?", "show / hide this help"),
    ("Esc", "leave the grid: keys go to the notebook again"),
]
"""``(keys, what they do)``, for the help line."""

_MOVES = {"ArrowLeft": -1, "ArrowRight": 1, "Left": -1, "Right": 1, "Tab": 1}
_ROW_MOVES = {"ArrowUp": -1, "ArrowDown": 1, "Up": -1, "Down": 1}


@dataclass(frozen=True)
class KeyAction:
    """What a key press asks for.

    Attributes
    ----------
    kind : str
        ``"move"`` (``step`` cards), ``"move_row"`` (``step`` rows), ``"pick"`` (``label``),
        ``"accept"``, ``"accept_all"``, ``"skip"``, ``"submit"``, ``"undo"``, ``"retrain"``, ``"oracle"``, ``"help"``,
        ``"typing"`` (the type-ahead text changed: ``text``, best ``label`` match or ``None``),
        ``"cancel"`` or ``"none"``.
    label : str, optional
        The class for ``"pick"`` (and the best match while typing).
    step : int
        For moves.
    text : str
        The type-ahead text for ``"typing"``.
    """

    kind: str
    label: Optional[str] = None
    step: int = 0
    text: str = ""


class KeyMap:
    """Turns key events into actions; keeps the type-ahead text between key presses.

    Parameters
    ----------
    classes : sequence of str
        The class names in the learner's order.

    Examples
    --------
    >>> keys = KeyMap(["cat", "dog", "cow"])
    >>> keys({"type": "keydown", "key": "2"}).label
    'dog'
    >>> [keys({"type": "keydown", "key": k}).kind for k in "/co"]
    ['typing', 'typing', 'typing']
    >>> keys({"type": "keydown", "key": "Enter"})
    KeyAction(kind='pick', label='cow', step=0, text='')
    """

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes: List[str] = [str(c) for c in classes]
        self.digits: Dict[str, str] = class_keys(self.classes)
        self.typing: Optional[str] = None

    def match(self, text: str) -> Optional[str]:
        """The class that ``text`` names: a 1-based number, the exact name, or a name prefix.

        Matching ignores case; among several prefix matches the first class wins.
        """
        t = text.strip()
        if not t:
            return None
        if t.isdigit():
            if t in self.classes:  # classes named by numbers: the name wins
                return t
            i = int(t)
            return self.classes[i - 1] if 1 <= i <= len(self.classes) else None
        low = t.lower()
        for name in self.classes:
            if name.lower() == low:
                return name
        for name in self.classes:
            if name.lower().startswith(low):
                return name
        for name in self.classes:
            if low in name.lower():
                return name
        return None

    def __call__(self, event: Mapping[str, object]) -> KeyAction:
        """The action of one key event from the page or :meth:`LabelingWidget.press` (only ``keydown`` acts)."""
        if event.get("type", "keydown") != "keydown":
            return KeyAction("none")
        key = str(event.get("key", ""))
        if event.get("ctrlKey") or event.get("metaKey") or event.get("altKey"):
            return KeyAction("none")
        if self.typing is not None:
            return self._typing(key)
        if key in _MOVES:
            step = _MOVES[key]
            return KeyAction("move", step=-step if event.get("shiftKey") and key == "Tab" else step)
        if key in _ROW_MOVES:
            return KeyAction("move_row", step=_ROW_MOVES[key])
        if key in self.digits:
            return KeyAction("pick", label=self.digits[key])
        if key == "/":
            self.typing = ""
            return KeyAction("typing", text="")
        simple = {"a": "accept", "A": "accept_all", "s": "skip", "Enter": "submit", "Backspace": "undo", "r": "retrain",
                  "o": "oracle", "?": "help", "Escape": "cancel", "c": "confirm"}
        kind = simple.get(key)
        return KeyAction(kind) if kind else KeyAction("none")

    def _typing(self, key: str) -> KeyAction:
        text = self.typing or ""
        if key == "Escape":
            self.typing = None
            return KeyAction("cancel")
        if key == "Enter":
            label = self.match(text)
            if label is None:
                return KeyAction("typing", text=text)
            self.typing = None
            return KeyAction("pick", label=label)
        if key == "Backspace":
            text = text[:-1]
        elif len(key) == 1:
            text += key
        else:
            return KeyAction("none")
        self.typing = text
        return KeyAction("typing", label=self.match(text), text=text)

    def cancel(self) -> None:
        """Leave type-ahead mode."""
        self.typing = None
