"""Which cards the grid shows: the screen's candidates (:mod:`alwidget.ui.screens`), kept cards the
person is at, and the model's suggestion on each.

:class:`Batches` is mixed into :class:`~alwidget.ui.widget.LabelingWidget`.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..report import uncertainty_band
from .cards import Card, Suggestion

__all__ = ["Batches"]

_KEY_GRACE_S = 2.0  # a card touched this recently is not swapped away under the person's hands


class Batches:
    """Filling the grid."""

    def _hardest_first(self) -> List[str]:
        unc = self.learner.uncertainty
        if unc is None:
            return []
        selectable = set(self.learner.selectable_ids())
        ids = self.learner.pool.ids
        order = np.argsort(-unc, kind="stable")
        return [ids[i] for i in order if ids[i] in selectable]

    def _candidates(self, n: int, exclude: set) -> List[str]:
        return self.screen.candidates(self, n, exclude) if n > 0 else []

    def _fill(self, keep_labeled: bool) -> None:
        """Put cards in the grid: keep labelled ones (and one being worked on) if asked, fill the rest."""
        store = self.learner.store
        now = time.monotonic()
        old = self.cards[: self.k]
        keep: List[Optional[Card]] = []
        if keep_labeled:
            for i, card in enumerate(old):
                working = (i == self._focus and now - self._touched.get(card.item_id, -1e9) < _KEY_GRACE_S
                           and card.item_id not in self._skipped)
                keep.append(card if (card.item_id in store or working) else None)
        keep += [None] * (self.k - len(keep))
        kept_ids = {c.item_id for c in keep if c is not None}
        try:
            new_ids = self._candidates(sum(c is None for c in keep), kept_ids)
        except Exception as exc:
            self._show_error(f"could not choose images: {type(exc).__name__}: {exc}")
            new_ids = []
        fresh = iter(new_ids)
        cards: List[Card] = []
        for card in keep:
            if card is None:
                item = next(fresh, None)
                if item is None:
                    continue
                card = self._make_card(item)
            cards.append(card)
        self.cards = cards
        self._sync_cards(self._suggestions([c.item_id for c in cards]))
        with self.board.hold_sync():
            self._set_focus(self._focus if keep_labeled else 0)
            if not keep_labeled:
                self._advance_from_start()
            self._push_cards()
            if not cards and self.screen.cards:
                self.board.instructions = self.screen.instructions(self) + "<br><i>Nothing left to show here.</i>"
            elif self.screen.live_instructions(self):
                self.board.instructions = self.screen.instructions(self)

    def _advance_from_start(self) -> None:
        for i, card in enumerate(self.cards):
            if card.label is None and not card.skipped:
                self._set_focus(i)
                return

    def _make_card(self, item: str) -> Card:
        try:
            image = self.learner.pool.image(item)
        except Exception:
            image = None
        return Card(item, image, self.classes, self._on_pick, thumb_size=self.thumb_size)

    def _push_cards(self) -> None:
        """Send the cards (and the images of new ones) to the page, in one message."""
        images = {c.item_id: c.png for c in self.cards if c.png is not None}
        self.board.show([c.state() for c in self.cards], images)

    def _suggestions(self, ids: Sequence[str]) -> Dict[str, Suggestion]:
        if not ids:
            return {}
        unc = self.learner.uncertainty
        if unc is None:
            return {}
        try:
            probs = self.learner.predict_proba(list(ids))
        except Exception:
            return {}
        pool = self.learner.pool
        u = np.array([unc[pool.index(i)] for i in ids])
        bands = uncertainty_band(u)
        out = {}
        for row, item, ui, band in zip(probs, ids, u, bands):
            j = int(np.argmax(row))
            out[item] = Suggestion(self.classes[j], float(row[j]), str(band), float(ui))
        return out
