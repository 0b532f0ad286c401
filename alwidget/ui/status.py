"""What the widget says: the status line, notes under it, flashes and errors, as HTML (every value
a person or the data chose is escaped). Each screen writes its own instructions (:mod:`alwidget.ui.screens`).

:class:`StatusText` is mixed into :class:`~alwidget.ui.widget.LabelingWidget`.
"""

from __future__ import annotations

import html
import math
from typing import Any, Optional

__all__ = ["StatusText", "esc", "step_label"]

_STEP_LABELS = {"done": "cycle done", "failed": "cycle failed", "represent": "learning the pool",
                "embed": "embedding the pool", "load": "reading images", "graph": "building the graph",
                "refine": "fine-tuning the trunk (background)", "features": "features",
                "check labels": "checking labels", "wait": "waiting for another learner's build of the same representation"}


def esc(text: Any) -> str:
    """``str(text)`` escaped for HTML (quotes included)."""
    return html.escape(str(text))


def step_label(step: str, fraction: float) -> str:
    """The progress label: a step's name in words, with its percentage for the long background ones."""
    name = _STEP_LABELS.get(step, step)
    if step in ("represent", "embed", "refine", "load", "check labels") and fraction < 1.0:
        return f"{name} {100 * fraction:.0f} %"
    return name if step in ("done", "failed") else f"{name}…"


class StatusText:
    """The status line, the notes, flashes and errors."""

    def _update_status(self) -> None:
        learner = self.learner
        try:
            counts = learner.store.counts()
        except Exception:
            return
        n_val = len(learner.validation_ids)
        parts = [f"<b>{counts['train']}</b> labels",
                 f"validation {counts['validation']}/{n_val}"]
        history = list(learner.history)
        ok = [r for r in history if r.error is None]
        if ok:
            rep = ok[-1]
            if math.isnan(rep.accuracy):
                acc = "n/a"
            else:
                lo, hi = rep.accuracy_ci
                acc = f"<b>{100 * rep.accuracy:.1f}%</b> [{100 * lo:.1f}–{100 * hi:.1f}] on {rep.n_validation}"
                if not math.isnan(rep.balanced_accuracy):
                    acc += f", balanced {100 * rep.balanced_accuracy:.1f}%"
            parts.append(f"cycle {rep.cycle}: validation accuracy {acc} ({rep.n_labels} labels)")
            if rep.representation:  # which features the labels chose, and why (on hover)
                parts.append(f"<span class='alw-representation' title='{esc(rep.representation_reason)}'>features: "
                             f"{esc(rep.representation)}</span>")
        else:
            parts.append("no model yet")
            auto = getattr(learner, "auto", None)
            if auto is not None and not auto.pretrained:  # said once, until the first model: offline fallback
                parts.append(f"<span class='alw-backbone'>{esc(learner.backbone_message)}</span>")
        if history and history[-1].error:
            parts.append(f"<span style='color:#b71c1c'>cycle {history[-1].cycle} failed</span>")
        if learner.running:
            parts.append("training…")
        elif ok and learner.cycle_due:
            parts.append("<i>labels changed since the last training</i>")
        try:
            reason = learner.stop_reason()
        except Exception:
            reason = None
        if reason:
            parts.append(f"suggest stopping: {esc(reason)}")
        if self.forecast is not None or self._forecast_error:
            text = self.forecast.summary() if self.forecast is not None else self._forecast_error
            parts.append(f"<span class='alw-forecast'>{esc(text)}</span>")
        if self._checker.running:
            parts.append("checking labels…")
        self.board.status = " · ".join(parts)

    def _update_notes(self) -> None:
        """Say which images are left out because they cannot be read (``pool.skipped``)."""
        try:
            skipped = list(self.learner.pool.skipped)
        except Exception:
            skipped = []
        if not skipped:
            self.board.notes = ""
            return
        shown = ", ".join(f"<code>{esc(item)}</code> ({esc(reason)})" for item, reason in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        n = len(skipped)
        self.board.notes = (f"<span style='color:#8d6e00'>⚠ {n} image{'s' if n != 1 else ''} could not be read "
                            f"and {'are' if n != 1 else 'is'} left out: {shown}{more} (see "
                            "<code>learner.pool.skipped</code>).</span>")

    def _flash(self, text_html: str) -> None:
        """Show a short message (``text_html`` must already be escaped)."""
        self.board.message = f"<span style='color:#33691e'>{text_html}</span>" if text_html else ""

    def _show_error(self, text: Optional[str]) -> None:
        """Show ``text`` (plain text; the page sets it as text) in the error line, or hide it (``None``)."""
        self.board.error = str(text) if text else ""
