"""What the person does, as one table of commands: :data:`COMMANDS`.

Every way in names a command and its arguments and ends in the same function:

* a message from the page (:data:`alwidget.ui.board.PAGE_MESSAGES`): its ``kind`` is the command
  (``action`` and ``set`` carry the command in ``name``), the card is the one its ``id`` names;
* a key (from the page or :meth:`LabelingWidget.press`): :class:`~alwidget.ui.keyboard.KeyMap`
  turns it into a :class:`~alwidget.ui.keyboard.KeyAction` whose ``kind`` is the command, on the
  focused card; a labelled card then moves the focus on, as the page does for its own keys;
* code: the widget's public methods (``submit``, ``undo``, ``set_k``, ...), which the table runs.

A command returns ``None`` when done, or why not (a short text the page shows on the card).
:class:`Commands` is mixed into :class:`~alwidget.ui.widget.LabelingWidget`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

from .cards import Card
from .keyboard import KeyAction
from .status import esc

__all__ = ["COMMANDS", "Command", "Commands"]

#: ``run(widget, card, args, by_key)`` → ``None`` when done, else why not.
Runner = Callable[[Any, Optional[Card], Dict[str, Any], bool], Optional[str]]


@dataclass(frozen=True)
class Command:
    """One thing the person can do.

    Attributes
    ----------
    run : callable
        ``run(widget, card, args, by_key)``: ``card`` is the card it acts on (named by the page's
        message, else the focused one; ``None`` if none), ``args`` the message or key's arguments,
        ``by_key`` whether a key asked for it. Returns ``None`` when done, else why not.
    doc : str
        What it does, in a few words (the arguments it reads in parentheses).
    """

    run: Runner
    doc: str


def _refuse(w: Any, why: str) -> str:
    """Say ``why`` (plain text) as a message, redraw the cards the page changed, return it."""
    w._flash(esc(why[0].upper() + why[1:]) + ".")
    w._push_cards()
    return why


def _label(w: Any, card: Card, label: str, source: str, by_key: bool) -> Optional[str]:
    """Label ``card``; a key moves the focus to the next card to label (the page moved it itself)."""
    if label not in w.classes:
        w._show_error(f"{label!r} is not a class")
        return f"{label!r} is not a class"
    if not w._label_card(card, label, source):
        return w._last_error or "label not saved"
    if by_key and card in w.cards:
        w._advance()
    return None


def _pick(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if card is None:
        return "no card"
    typing = bool(card.typeahead)
    card.show_typeahead("")
    why = _label(w, card, str(a.get("label")), "human", by_key)
    if typing:  # the page still shows the typed text (no label change may have pushed)
        w._push_cards()
    return why


def _pick_text(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    label = w._keys.match(str(a.get("text", "")))
    if card is None or label is None:
        return _refuse(w, f"no class matches {str(a.get('text', ''))!r}")
    return _label(w, card, label, "human", by_key)


def _accept(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if not w.screen.suggestions:
        return _refuse(w, f"no suggestion to accept: {w.screen.no_suggestions}")
    if card is None or card.suggestion is None:
        return _refuse(w, "no suggestion to accept here: train a model first")
    why = _label(w, card, card.suggestion.label, "suggestion", by_key)
    w._push_cards()
    return why


def _confirm(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if not w.screen.confirms:
        return _refuse(w, "keeping a label as it is (c) belongs to Check my labels")
    if card is None or card.label is None:
        return _refuse(w, "this card has no label to keep")
    why = _label(w, card, card.label, "review", by_key)
    w._push_cards()
    return why


def _skip(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if card is None:
        return None
    if card.label is None:
        w._skipped.add(card.item_id)
        card.skipped = True
    if by_key:
        w._advance()
    w._push_cards()
    return None


def _typing(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if card is not None:
        card.show_typeahead(str(a.get("text") or "/"), a.get("label"))
        w._push_cards()
    return None


def _cancel_typing(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if card is not None:
        card.show_typeahead("")
        w._push_cards()
    return None


def _stale(w: Any, a: Dict[str, Any]) -> Optional[str]:
    """A recent-list row names the label event it showed: refuse if the item's label changed since."""
    current = w.learner.store.get(str(a.get("id")))
    if current is None or current.seq != a.get("seq"):
        w._flash("That label changed meanwhile; see the list.")
        w._update_recent(force=True)
        return "that label changed meanwhile"
    return None


def _undo(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if a.get("seq") is None:  # the latest label (Backspace, the batch bar, code)
        w.undo()
        return None
    why = _stale(w, a)
    if why is None:
        w.undo(str(a.get("id")))
    return why


def _relabel(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    why = _stale(w, a)
    if why is not None:
        return why
    item, label = str(a.get("id")), str(a.get("label"))
    if label not in w.classes:
        return f"{label!r} is not a class"
    if label == w.learner.store.get(item).label:
        return None
    return None if w._teach([item], [label], "human") else w._last_error


def _export(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
    if a.get("folder") is not None:
        w.export_dir = str(a["folder"])
    return None if w.export(str(a.get("what"))) is not None else w.error


def _call(method: str, *names: str) -> Runner:
    """A command that calls the widget's public ``method`` with the arguments ``names``."""
    def run(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
        getattr(w, method)(*(a.get(n) for n in names))
        return None
    return run


def _setting(name: str) -> Runner:
    def run(w: Any, card: Optional[Card], a: Dict[str, Any], by_key: bool) -> Optional[str]:
        setattr(w, name, a.get("value"))
        return None
    return run


#: Every command, by name. Keys use the :class:`~alwidget.ui.keyboard.KeyAction` kinds, the page
#: the kinds of :data:`~alwidget.ui.board.PAGE_MESSAGES` (``action`` and ``set``: their ``name``).
COMMANDS: Dict[str, Command] = {
    # labels, on a card
    "pick": Command(_pick, "label the card with a class (label)"),
    "pick_text": Command(_pick_text, "label the card with the class typed (text)"),
    "accept": Command(_accept, "label the card with the model's suggestion"),
    "confirm": Command(_confirm, "Check my labels: keep the card's label as it is"),
    "skip": Command(_skip, "skip the card for this batch"),
    "typing": Command(_typing, "the type-ahead text changed (text, label: its best match)"),
    "cancel_typing": Command(_cancel_typing, "close the type-ahead"),
    # moving
    "focus": Command(lambda w, c, a, k: None, "the page moved the keyboard focus itself (index)"),
    "move": Command(lambda w, c, a, k: w._move_focus(int(a.get("step", 1))), "move the focus (step cards)"),
    "move_row": Command(lambda w, c, a, k: w._move_focus(int(a.get("step", 1)) * w.columns, wrap=False),
                        "move the focus (step rows)"),
    "help": Command(lambda w, c, a, k: setattr(w, "help_open", not w.help_open), "show or hide the key help"),
    # batches and labels
    "submit": Command(_call("submit"), "submit the batch: the next one, and a cycle if auto-retrain is on"),
    "accept_all": Command(_call("accept_all"), "accept every suggestion shown"),
    "oracle": Command(_call("oracle"), "simulation: label the cards shown from the known truth"),
    "undo": Command(_undo, "undo the latest label, or the one a recent-list row shows (id, seq)"),
    "relabel": Command(_relabel, "change the label a recent-list row shows (id, seq, label)"),
    "label_selection": Command(_call("label_selection", "ids", "label"),
                               "label a selection of the pool with one class, as one group (ids, label)"),
    "map_select": Command(_call("map_select", "rows"), "select rows of the map (rows: pool.ids positions)"),
    "map_hover": Command(lambda w, c, a, k: w._map_hover(a.get("row")), "show the map's item under the pointer (row)"),
    "label_map_selection": Command(_call("label_map_selection", "label"), "label the map's selection (label)"),
    "query_here": Command(_call("query_here"), "the next batch from inside the map's selection"),
    # cycles, errors, files
    "retrain": Command(_call("retrain"), "start a background cycle now"),
    "cancel": Command(_call("cancel"), "stop the running cycle"),
    "dismiss": Command(lambda w, c, a, k: w._show_error(None), "hide the error line"),
    "export": Command(_export, "write labels.csv, labels.json or model.pt (what, folder)"),
    # the toolbar's fields
    "mode": Command(_call("set_mode", "value"), "show a screen (value: validation, label, review, check)"),
    "strategy": Command(_call("set_strategy", "value"), "use another query strategy (value)"),
    "k": Command(_call("set_k", "value"), "cards per batch (value)"),
    "target": Command(_call("set_target", "value"), "validation accuracy to forecast labels for (value)"),
    "auto_retrain": Command(_setting("auto_retrain"), "retrain after each submitted batch (value)"),
    "export_dir": Command(_setting("export_dir"), "the folder exports go to (value)"),
}

#: Key action kinds whose command has another name.
_KEY_COMMANDS = {"cancel": "cancel_typing"}


class Commands:
    """Runs :data:`COMMANDS` for the page's messages, keys and code, under the widget's lock."""

    def run_command(self, name: str, card: Optional[Card] = None, by_key: bool = False,
                    **args: Any) -> Optional[str]:
        """Run command ``name`` of :data:`COMMANDS` on ``card`` (default: the focused card).

        Returns ``None`` when done, or why not. Errors are shown in the widget, never raised.
        """
        command = COMMANDS.get(name)
        if command is None:
            return f"unknown command {name!r}"
        try:
            with self._lock:
                return command.run(self, card if card is not None else self.focused, args, by_key)
        except ValueError as exc:  # a value the person gave: say what to give instead
            self._show_error(str(exc))
            return str(exc)
        except Exception as exc:  # a handler must never raise into the comm layer or a key event
            why = f"{type(exc).__name__}: {exc}"
            self._show_error(why)
            return why

    def _on_page_message(self, _board: Any, content: Dict[str, Any], _buffers: Sequence[Any]) -> None:
        """A message from the page (see :data:`alwidget.ui.board.PAGE_MESSAGES`); answered with an ack."""
        if self._closed or not isinstance(content, dict):
            return
        kind = content.get("kind")
        with self._lock:
            where = content.get("focus", content.get("index"))
            if isinstance(where, int) and 0 <= where < len(self.cards):  # the page moved its focus: follow
                self._set_focus(where, push=False)
            card = None
            if content.get("id") is not None:
                self._touched[str(content["id"])] = time.monotonic()
                card = self._card(content["id"])
            if kind == "key":
                self.handle_event({"type": "keydown", "key": content.get("key", ""),
                                   "shiftKey": bool(content.get("shiftKey"))})
                why = None
            elif kind in ("pick", "pick_text", "accept", "confirm", "skip") and card is None:
                why = "that card is no longer shown"
                self._push_cards()
            else:
                name = content.get("name") if kind in ("action", "set") else kind
                why = self.run_command(str(name), card, **{k: v for k, v in content.items()
                                                           if k not in ("kind", "name", "token")})
        self.board.ack(content.get("token"), why is None, why or "")

    def _card(self, item: Any) -> Optional[Card]:
        for card in self.cards:
            if card.item_id == item:
                return card
        return None

    def _do(self, action: KeyAction) -> None:
        """Carry out a key's action on the focused card."""
        with self._lock:
            self._touch()
            args = {"label": action.label, "step": action.step, "text": action.text}
            self.run_command(_KEY_COMMANDS.get(action.kind, action.kind), self.focused, by_key=True, **args)
            if action.kind != "submit":  # a new batch: the person has not looked at it yet
                self._touch()

    def _touch(self) -> None:
        """Remember that the person is at the focused card now (it is not swapped away for a moment)."""
        card = self.focused
        if card is not None:
            self._touched[card.item_id] = time.monotonic()
