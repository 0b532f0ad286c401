"""Moving through the grid and labelling its cards: focus, advance, accept, skip, and the labels
handed to the learner (each on disk before the card shows it).

:class:`Navigation` is mixed into :class:`~alwidget.ui.widget.LabelingWidget`.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from .cards import Card, Suggestion
from .keyboard import KEY_HELP
from .status import esc

__all__ = ["Navigation"]


class Navigation:
    """Focus and labels on the grid."""

    def _help_rows(self) -> List[List[str]]:
        keys = dict(KEY_HELP)
        if all(k == c for k, c in self._digit_keys.items()):
            keys["1…9, 0"] = "label the current card with the class of that name"
        else:
            shown = ", ".join(f"{k} {c}" for k, c in self._digit_keys.items())
            keys["1…9, 0"] = f"label the current card: {shown}"
        rows = [[k, v] for k, v in keys.items()]
        if self.simulate:
            rows.append(["o", "oracle answers the batch"])
        return rows

    @property
    def help_open(self) -> bool:
        """Whether the key help is shown under the grid."""
        return bool(self.board.help_open)

    @help_open.setter
    def help_open(self, show: bool) -> None:
        if self.board.help_open != bool(show):
            self.board.help_open = bool(show)

    def _move_focus(self, step: int, wrap: bool = True) -> None:
        n = len(self.cards)
        if not n:
            return
        new = self._focus + step
        new = new % n if wrap else min(max(new, 0), n - 1)
        self._set_focus(new)

    def _set_focus(self, index: int, push: bool = True) -> None:
        """Focus card ``index``; ``push``: tell the page (it moved there itself otherwise)."""
        self._keys.cancel()
        self._focus = min(max(int(index), 0), max(len(self.cards) - 1, 0))
        for i, card in enumerate(self.cards):
            focused = i == self._focus
            if card.focused and not focused and card.typeahead:
                card.show_typeahead("")
            card.focused = focused
        if push:
            self.board.move_focus(self._focus)

    def _advance(self) -> None:
        """Focus the next card that still needs a label (stay if none)."""
        n = len(self.cards)
        for step in range(1, n + 1):
            i = (self._focus + step) % n
            card = self.cards[i]
            if card.label is None and not card.skipped:
                self._set_focus(i)
                return

    def label_selection(self, ids: Iterable[str], label: str) -> int:
        """Label a selection of the pool (a region of the map) with one class, as one group.

        The labels have the source ``"map"`` and are written in one transaction; one undo
        (:meth:`undo`, Backspace) takes them all back, also after reopening the store.
        Validation items are never labelled this way: they are left out (and said so).

        Parameters
        ----------
        ids : iterable of str
            Pool ids.
        label : str
            One of the learner's classes.

        Returns
        -------
        int
            How many items were labelled.

        Raises
        ------
        KeyError
            An id is not in the pool. ``ValueError``: ``label`` is not a class. Nothing is stored then.
        """
        ids = [str(i) for i in ids]
        unknown = [i for i in ids if i not in self.learner.session.positions]
        if unknown:
            raise KeyError(f"{len(unknown)} id(s) not in the pool, e.g. {unknown[0]!r}; select pool items only")
        if label not in self.classes:
            raise ValueError(f"{label!r} is not a class; use one of {self.classes}")
        validation = set(self.learner.validation_ids)
        train = list(dict.fromkeys(i for i in ids if i not in validation))
        left_out = len(set(ids) & validation)
        with self._lock:
            if train:
                self.learner.teach(train, [label] * len(train), source="map", group=True)
            note = f" ({left_out} validation item{'s' if left_out != 1 else ''} left out)" if left_out else ""
            self._flash(f"Labelled {len(train)} image{'s' if len(train) != 1 else ''} <b>{esc(label)}</b> from the map"
                        f"{note}; one undo takes them back.")
            self._skipped.difference_update(train)
            self._after_labels_changed()
        return len(train)

    def _on_pick(self, card: Card, label: str) -> None:
        """``card.pick(label)`` from code: label it, focus the next card to label (as the page does)."""
        try:
            with self._lock:
                if card in self.cards:
                    self._set_focus(self.cards.index(card))
                if self._label_card(card, label, "human") and card in self.cards:
                    self._advance()
                self._touch()
        except Exception as exc:
            self._show_error(f"{type(exc).__name__}: {exc}")

    def _label_card(self, card: Card, label: str, source: str) -> bool:
        if card.label == label and card.source == source and not self.screen.confirms:
            return True
        return self._teach([card.item_id], [label], source)

    def _teach(self, ids: List[str], labels: List[str], source: str) -> bool:
        try:
            self.screen.teach(self, ids, labels, source)
        except Exception as exc:
            self._last_error = f"label not saved: {type(exc).__name__}: {exc}"
            self._show_error(self._last_error)
            self._after_labels_changed()
            return False
        self._skipped.difference_update(ids)
        self._after_labels_changed()
        return True

    def _after_labels_changed(self) -> None:
        """Re-read labels from the store into the cards, the recent list, the status (and the map)."""
        with self._lock:
            self._sync_cards()
            self._push_cards()
            self._update_recent()
            self._update_status()
            if self.mode == "map":
                self._refresh_map_labels()

    def _sync_cards(self, suggestions: Optional[Dict[str, Suggestion]] = None) -> None:
        store = self.learner.store
        show = self.screen.suggestions
        for card in self.cards:
            event = store.get(card.item_id)
            sug = suggestions.get(card.item_id) if suggestions is not None else card.suggestion
            issue = self._checker.issue(card.item_id) if self.screen.confirms else None
            if issue is not None:  # the unseen model's view replaces the current model's
                sug = Suggestion(issue.suggestion, issue.suggestion_probability, "hard" if issue.flagged else "medium",
                                 issue.score)
                card.check = {"suggestion": issue.suggestion, "probability": issue.probability,
                              "suggestion_probability": issue.suggestion_probability, "score": issue.score,
                              "split": issue.split, "flagged": issue.flagged}
            else:
                card.check = None
            card.show(label=None if event is None else event.label, source=None if event is None else event.source,
                      suggestion=sug, show_suggestion=show and issue is None)
