"""The widget's *Map* screen, Python side: the pool as a 2-D map of the representation in use
(:meth:`ActiveLearner.projection`), coloured by label, prediction or uncertainty in the page;
a region selected there is labelled at once (:meth:`~alwidget.ui.navigation.Navigation.label_selection`)
or searched for the next batch (:meth:`PoolMapView.query_here`).

The page gets the map as binary buffers (``map_xy`` float32 ``[N, 2]``, ``map_label`` and
``map_pred`` int16 ``[N]`` class indices or -1, ``map_unc`` float32 ``[N]``, ``map_flags`` uint8
``[N]``: 1 validation, 2 in the grid), draws and selects on its own, and sends the selected
rows; Python answers with what the selection holds (``map_selection``: count, the model's
suggestion mix, a sample of thumbnails). :class:`PoolMapView` is mixed into
:class:`~alwidget.ui.widget.LabelingWidget`.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .cards import thumbnail_png
from .status import esc

__all__ = ["PoolMapView", "SAMPLE_THUMBS"]

#: Thumbnails shown for a selection (a random sample when it holds more).
SAMPLE_THUMBS = 12


class PoolMapView:
    """The map's data, selection and actions."""

    _map_selected: List[int]
    _map_waiter: Optional[threading.Thread]

    def _start_map(self) -> None:
        """Compute the map in the background (if needed) and send it to the page when done."""
        board = self.board
        self._map_wanted = True  # from now on, a new representation's map is computed after each cycle
        try:
            xy = self.learner.projection(wait=False)
        except Exception as exc:
            board.map_state = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
            return
        if xy is not None:
            self._push_map(xy)
            return
        board.map_state = {"status": "computing", "message": "computing the map of the pool (in the background)…"}
        if getattr(self, "_map_waiter", None) is not None and self._map_waiter.is_alive():
            return

        def wait() -> None:
            try:
                done = self.learner.projection(wait=True)
            except Exception as exc:  # said in the page, never raised into a thread
                board.map_state = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
                return
            if not self._closed and done is not None:
                with self._lock:
                    self._push_map(done)

        self._map_waiter = threading.Thread(target=wait, name="alwidget-map-wait", daemon=True)
        self._map_waiter.start()

    def _push_map(self, xy: np.ndarray) -> None:
        """Send the map and its colourings to the page (one message)."""
        learner, n = self.learner, len(self.learner.pool)
        pred = np.full(n, -1, np.int16)
        unc = np.full(n, np.nan, np.float32)
        if learner.uncertainty is not None:
            try:
                probs = learner.predict_proba(list(learner.pool.ids))
                pred = probs.argmax(1).astype(np.int16)
                unc = learner.uncertainty.astype(np.float32)
            except Exception:
                pass
        with self.board.hold_sync():
            self.board.map_xy = np.ascontiguousarray(xy, np.float32).tobytes()
            self.board.map_pred = pred.tobytes()
            self.board.map_unc = unc.tobytes()
            self._push_map_labels()
            self.board.map_state = {"status": "ready", "n": int(n), "message": ""}

    def _push_map_labels(self) -> None:
        """The map's labels and flags (what labelling changes; the layout and predictions stay)."""
        learner, n = self.learner, len(self.learner.pool)
        positions = learner.session.positions
        index = {c: i for i, c in enumerate(self.classes)}
        label = np.full(n, -1, np.int16)
        for item, lab in learner.store.labels(split=None).items():
            pos = positions.get(item)
            if pos is not None and lab in index:
                label[pos] = index[lab]
        flags = np.zeros(n, np.uint8)
        for item in learner.validation_ids:
            flags[positions[item]] |= 1
        for card in self.cards:
            flags[positions[card.item_id]] |= 2
        with self.board.hold_sync():
            self.board.map_label = label.tobytes()
            self.board.map_flags = flags.tobytes()

    def _thumbnail(self, item: str) -> bytes:
        """``item``'s thumbnail as PNG bytes (empty when the image cannot be read)."""
        try:
            return thumbnail_png(self.learner.pool.image(item), self.thumb_size)[0]
        except Exception:
            return b""

    def map_select(self, rows: Sequence[int]) -> Dict[str, Any]:
        """Select pool rows (``pool.ids`` positions) on the map: what they hold, shown in the page.

        Returns the ``map_selection`` the page shows: ``{"count", "validation", "labelled", "mix":
        [[class, n], ...] (the model's suggestions, most first), "sample": [ids]}``.
        """
        n = len(self.learner.pool)
        picked = sorted({int(r) for r in rows if 0 <= int(r) < n})
        self._map_selected = picked
        ids = [self.learner.pool.ids[r] for r in picked]
        validation = set(self.learner.validation_ids)
        mix: List[List[Any]] = []
        if picked and self.learner.uncertainty is not None:
            probs = self.learner.predict_proba(ids)
            counts = Counter(self.classes[j] for j in probs.argmax(1))
            mix = [[c, int(k)] for c, k in counts.most_common()]
        rng = np.random.default_rng(len(picked))
        sample = [ids[i] for i in sorted(rng.choice(len(ids), size=min(SAMPLE_THUMBS, len(ids)), replace=False))] if ids else []
        thumbs = {item: png for item in sample if (png := self._thumbnail(item))}
        selection = {"count": len(picked), "validation": sum(1 for i in ids if i in validation),
                     "labelled": sum(1 for i in ids if i in self.learner.store), "mix": mix, "sample": sample}
        with self.board.hold_sync():
            self.board.map_thumbs = thumbs
            self.board.map_selection = selection
        return selection

    def label_map_selection(self, label: str) -> int:
        """Label the rows selected on the map with ``label`` (one group, source ``"map"``)."""
        ids = [self.learner.pool.ids[r] for r in getattr(self, "_map_selected", [])]
        if not ids:
            raise ValueError("select a region of the map first (drag around it)")
        return self.label_selection(ids, label)  # recolours the map and the selection (labels changed)

    def _refresh_map_labels(self) -> None:
        """Labels changed: recolour the map's labels (the layout and the predictions stay)."""
        if not self.board.map_xy:
            return
        self._push_map_labels()
        if getattr(self, "_map_selected", None):
            self.map_select(self._map_selected)  # its "labelled" count changed too

    def query_here(self) -> None:
        """Show the next batch from inside the map's selection (the strategy's ranking there)."""
        rows = getattr(self, "_map_selected", [])
        if not rows:
            raise ValueError("select a region of the map first (drag around it)")
        inside = {self.learner.pool.ids[r] for r in rows}
        self.screens["label"].within = inside
        self._set_mode("label")
        self._flash(f"The next batch comes from the {len(inside)} images selected on the map "
                    f"({esc(self.learner.strategy.name)} ranking there); Enter goes back to the whole pool.")

    def _map_hover(self, row: Any) -> None:
        """The page's pointer is over map row ``row``: its id, label, suggestion and thumbnail."""
        try:
            row = int(row)
            item = self.learner.pool.ids[row]
        except (TypeError, ValueError, IndexError):
            return
        event = self.learner.store.get(item)
        info: Dict[str, Any] = {"row": row, "id": item, "label": None if event is None else event.label,
                                "split": None if event is None else event.split}
        if self.learner.uncertainty is not None:
            probs = self.learner.predict_proba([item])[0]
            j = int(probs.argmax())
            info.update(suggestion=self.classes[j], confidence=float(probs[j]))
        info["png"] = self._thumbnail(item)
        self.board.map_hover = info
