"""The widget's side of a background cycle: starting it, its progress, and what changes when it
ends (the grid, both plots, the forecast, the recent labels). Runs on the learner's worker
thread by setting widget traits only (see :mod:`alwidget.ui.widget`).

:class:`Cycles` is mixed into :class:`~alwidget.ui.widget.LabelingWidget`.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from .plots import update_accuracy, update_forecast, update_uncertainty
from .status import esc, step_label

__all__ = ["Cycles"]


class Cycles:
    """Background cycles seen from the widget."""

    def _start_cycle(self, force: bool = False) -> None:
        learner = self.learner
        if not learner.labels:
            if force:
                self._show_error("no training labels yet: label some images in the Label tab first")
            return
        if learner.running:
            self._pending_retrain = True
            self._watch(learner.retrain_async())  # the running cycle's Future (no new cycle starts)
            self._flash("A cycle is running; another one will follow with the new labels.")
            return
        self._idle.clear()
        try:
            future = learner.retrain_async()
        except Exception as exc:
            self._idle.set()
            self._show_error(f"could not start training: {type(exc).__name__}: {exc}")
            return
        self.board.running = True
        self._watch(future)

    def _watch(self, future: Any) -> None:
        if future is None or future is self._watched:
            return
        self._watched = future
        self._idle.clear()
        future.add_done_callback(self._cycle_finished)

    def _cycle_finished(self, future: Any) -> None:
        """Runs on the worker thread once a cycle's Future is done: chain a pending cycle or go idle."""
        try:
            with self._lock:
                again = self._pending_retrain and self.learner.cycle_due and not self._closed
                self._pending_retrain = False
                if again:
                    self._watched = None
                    self._start_cycle()
                    return
                self.board.running = False
                self._update_status()
        except Exception as exc:
            self._show_error(f"{type(exc).__name__}: {exc}")
        finally:
            if not (self.learner.running and self._watched is not future):
                self._idle.set()

    def _on_progress(self, step: str, fraction: float) -> None:
        """The learner's progress callback (any thread): bar, step name; refresh at the end."""
        if self._closed:
            return
        now = time.monotonic()
        last_step, last_fraction, last_time = self._progress_last
        end = step in ("done", "failed")
        if step == last_step and not end and fraction < 1.0 and fraction - last_fraction < 0.05 \
                and now - last_time < 0.25:
            return
        self._progress_last = (step, fraction, now)
        self._show_progress(fraction, "danger" if step == "failed" else ("success" if step == "done" else "info"),
                            step_label(step, fraction))
        if end:
            self._cycle_ended()
        elif not self.board.running:
            self.board.running = True

    def _show_progress(self, fraction: float, style: str, text: str) -> None:
        """The progress bar (``fraction`` in ``[0, 1]``), its colour (info, success, danger) and label."""
        with self.board.hold_sync():
            self.board.progress = min(max(float(fraction), 0.0), 1.0)
            self.board.progress_style = style
            self.board.step = text

    def _cycle_ended(self) -> None:
        """A cycle reported its end (on the worker thread): show its result, refresh the grid."""
        t0 = time.perf_counter()
        try:
            history = self.learner.history
            last = history[-1] if history else None
            cancelled = last is not None and last.cancelled
            if cancelled:
                self._flash("Cycle cancelled; the previous model is kept.")
            elif last is not None and last.error:
                self._show_error(f"training failed (cycle {last.cycle}): {last.error}. "
                                 "The previous model is kept; keep labelling or retrain.")
            elif last is not None:
                self._show_error(None)
            if last is not None and last.unreadable:
                n = len(last.unreadable)
                names = ", ".join(f"<code>{esc(item)}</code>" for item, _ in last.unreadable[:5])
                more = f" and {n - 5} more" if n > 5 else ""
                self._flash(f"{n} image{'s' if n != 1 else ''} could not be read and {'are' if n != 1 else 'is'} "
                            f"skipped: {names}{more} (see <code>learner.pool.skipped</code>); re-export them as "
                            "PNG or JPEG, or remove them.")
            with self._lock:
                self._update_plots()
                if last is not None and last.error is None:
                    self.screen.after_cycle(self)
                self._update_status()
                self._update_notes()
                if getattr(self, "_map_wanted", False) and self.mode != "map":  # ready when the map is opened
                    try:
                        self.learner.projection(wait=False)
                    except Exception:  # said when the map is opened
                        pass
                self.last_refresh = {"at": time.monotonic(), "seconds": time.perf_counter() - t0,
                                     "cycle": float(last.cycle if last is not None else 0)}
        except Exception as exc:
            self._show_error(f"refresh failed: {type(exc).__name__}: {exc}")

    def _update_plots(self) -> None:
        history = list(self.learner.history)
        update_uncertainty(self.plots, history)
        update_accuracy(self.plots, history, self._baseline)
        self._update_forecast()

    def _update_forecast(self) -> None:
        """Forecast the labels to the target from the cycles so far; draw it on the accuracy panel."""
        try:
            self.forecast, self._forecast_error = self.learner.forecast(self.target), ""
        except Exception as exc:  # shown in the status line; the widget goes on
            self.forecast, self._forecast_error = None, f"no forecast: {type(exc).__name__}: {exc}"
        update_forecast(self.plots, self.forecast)

    def _check_done(self, error: Optional[str]) -> None:
        """The label check ended (on its thread): show its ranking, or why it failed."""
        with self._lock:
            if self._closed:
                return
            if error:
                self._show_error(f"Check my labels: {error}")
            if not self.learner.running:  # the check's progress, unless a cycle now reports its own
                self._show_progress(1.0, "danger" if error else "success",
                                    "label check failed" if error else "labels checked")
            if self.mode == "check":
                self._fill(keep_labeled=False)
                self.board.instructions = self.screen.instructions(self)
            self._update_status()

    def _update_recent(self, force: bool = False) -> None:
        """Show the latest label events in the recent-labels list (``force``: resend as is)."""
        try:
            events = self.learner.store.events(limit=self.n_recent)
        except Exception:
            events = []
        self.recent_events = list(events)
        rows = [{"seq": int(e.seq), "id": str(e.item_id), "label": str(e.label), "source": str(e.source),
                 "split": str(e.split)} for e in events]
        if force and rows == self.board.recent:
            self.board.recent = []  # a changed list, so the page redraws the row it changed by hand
        self.board.recent = rows

    def _label_validation_from_truth(self) -> None:
        truth = self.learner.pool.truth
        pending = [i for i in self.learner.pending_validation() if truth.get(i) is not None]
        if pending:
            self.learner.teach(pending, [truth[i] for i in pending], source="oracle")
