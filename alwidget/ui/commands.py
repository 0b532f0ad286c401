"""What the person does, from the page or the keyboard: one place that turns a page message
(click, pick, accept, confirm, skip, relabel, undo, action) or a key action into what the widget
does, and answers the page.

:class:`Commands` is mixed into :class:`~alwidget.ui.widget.LabelingWidget`; the key map is
:mod:`alwidget.ui.keyboard`, the board's messages :data:`alwidget.ui.board.PAGE_MESSAGES`.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Sequence

from .cards import Card
from .keyboard import KeyAction
from .status import esc

__all__ = ["Commands"]


class Commands:
    """Page messages and key actions, handled under the widget's lock."""

    def _on_page_message(self, _board: Any, content: Dict[str, Any], _buffers: Sequence[Any]) -> None:
        """A message from the board's page (see :data:`alwidget.ui.board.PAGE_MESSAGES`)."""
        if self._closed or not isinstance(content, dict):
            return
        token = content.get("token")
        try:
            with self._lock:
                ok, why = self._page_action(content)
        except Exception as exc:  # a message handler must never raise into the comm layer
            ok, why = False, f"{type(exc).__name__}: {exc}"
            self._show_error(why)
        self.board.ack(token, ok, why)

    def _page_action(self, msg: Dict[str, Any]) -> "tuple[bool, str]":
        kind = msg.get("kind")
        item = msg.get("id")
        if "focus" in msg or "index" in msg:  # the page moved its focus itself: follow, do not push back
            where = msg.get("focus", msg.get("index"))
            if isinstance(where, int) and 0 <= where < len(self.cards):
                self._set_focus(where, push=False)
        if item is not None:
            self._touched[str(item)] = time.monotonic()
        if kind == "focus":
            return True, ""
        if kind in ("pick", "accept"):
            label = msg.get("label")
            if kind == "accept":
                card = self._card(item)
                if self.mode == "validation" or card is None or card.suggestion is None:
                    why = ("validation labels are given without the model's help" if self.mode == "validation"
                           else "no suggestion to accept here: train a model first")
                    self._flash(f"No suggestion to accept: {esc(why)}.")
                    self._push_cards()
                    return False, why
                label = card.suggestion.label
            if label not in self.classes:
                why = f"{label!r} is not a class"
                self._show_error(why)
                return False, why
            return self._teach_item(str(item), str(label), "human" if kind == "pick" else "suggestion")
        if kind == "pick_text":
            label = self._keys.match(str(msg.get("text", "")))
            if label is None:
                why = f"no class matches {str(msg.get('text', ''))!r}"
                self._flash(esc(why[0].upper() + why[1:]) + ".")
                self._push_cards()
                return False, why
            return self._teach_item(str(item), label, "human")
        if kind == "confirm":
            card = self._card(item)
            if self.mode != "check" or card is None or card.label is None:
                why = ("keeping a label as it is belongs to Check my labels" if self.mode != "check"
                       else "this card has no label to keep")
                self._flash(esc(why[0].upper() + why[1:]) + ".")
                self._push_cards()
                return False, why
            return self._teach_item(card.item_id, card.label, "review")
        if kind == "skip":
            card = self._card(item)
            if card is not None and card.label is None:
                self._skipped.add(card.item_id)
                card.skipped = True
                self._push_cards()
            return True, ""
        if kind == "key":
            self.handle_event({"type": "keydown", "key": msg.get("key", ""), "shiftKey": bool(msg.get("shiftKey"))})
            return True, ""
        if kind == "action":
            name = msg.get("name")
            actions = {"submit": self.submit, "accept_all": self.accept_all, "undo": self.undo, "oracle": self.oracle}
            if name not in actions:
                return False, f"unknown action {name!r}"
            actions[name]()
            return True, ""
        if kind in ("relabel", "undo"):
            current = self.learner.store.get(str(item))
            if current is None or current.seq != msg.get("seq"):  # the row showed an older label
                self._flash("That label changed meanwhile; see the list.")
                self._update_recent(force=True)
                return False, "that label changed meanwhile"
            if kind == "undo":
                self.undo(str(item))
                return True, ""
            label = msg.get("label")
            if label == current.label:
                return True, ""
            return self._teach_item(str(item), str(label), "human")
        return False, f"unknown message {kind!r}"

    def _card(self, item: Any) -> Optional[Card]:
        for card in self.cards:
            if card.item_id == item:
                return card
        return None

    def _teach_item(self, item: str, label: str, source: str) -> "tuple[bool, str]":
        card = self._card(item)
        if card is not None and card.label == label and card.source == source and self.mode != "check":
            return True, ""
        if self._teach([item], [label], source):
            return True, ""
        return False, self._last_error

    def _do(self, action: KeyAction) -> None:
        with self._lock:
            card = self.focused
            self._touch()
            self._act(action, card)
            if action.kind != "submit":  # a new batch: the person has not looked at it yet
                self._touch()

    def _touch(self) -> None:
        """Remember that the person is at the focused card now (it is not swapped away for a moment)."""
        card = self.focused
        if card is not None:
            self._touched[card.item_id] = time.monotonic()

    def _act(self, action: KeyAction, card: Optional[Card]) -> None:
        with self._lock:
            kind = action.kind
            if kind == "move":
                self._move_focus(action.step)
            elif kind == "move_row":
                self._move_focus(action.step * self.columns, wrap=False)
            elif kind == "pick" and card is not None:
                typing = bool(card.typeahead)
                card.show_typeahead("")
                if self._label_card(card, action.label, "human"):
                    self._advance()  # a new focus goes to the page with move_focus
                if typing:  # the page still shows the typed text (no label change may have pushed)
                    self._push_cards()
            elif kind == "accept":
                self._accept_focused()
            elif kind == "skip":
                self._skip_focused()
            elif kind == "submit":
                self.submit()
            elif kind == "undo":
                self.undo()
            elif kind == "retrain":
                self.retrain()
            elif kind == "oracle":
                self.oracle()
            elif kind == "help":
                self.help_open = not self.help_open
            elif kind == "typing" and card is not None:
                card.show_typeahead(action.text or "/", action.label)
                self._push_cards()
            elif kind == "cancel" and card is not None:
                card.show_typeahead("")
                self._push_cards()
            elif kind == "accept_all":
                self.accept_all()
            elif kind == "confirm" and card is not None:
                if self.mode != "check" or card.label is None:
                    self._flash("<kbd>c</kbd> keeps a label as it is in <b>Check my labels</b>.")
                elif self._label_card(card, card.label, "review"):
                    self._advance()
                self._push_cards()
