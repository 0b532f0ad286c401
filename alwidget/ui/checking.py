"""The widget's "Check my labels" screen: run the label check off the main thread, page through it.

:class:`LabelChecker` holds one :class:`~alwidget.trust.LabelCheck` (the learner's
:meth:`~alwidget.ActiveLearner.label_issues`), runs a new one on a thread of its own (it takes
seconds: a k-fold of the fast cycle), and answers what the grid needs: the next items to show,
most suspicious first, leaving out labels checked since, and each card's check line.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional

from ..progress import CancelToken, CycleCancelled

__all__ = ["LabelChecker"]


class LabelChecker:
    """Runs and pages the label check for one widget.

    Parameters
    ----------
    learner : ActiveLearner
    on_done : callable
        ``on_done(error)`` on the checker's thread when a check ends (``error`` is ``None`` or
        the message of the failure).
    """

    def __init__(self, learner: Any, on_done: Callable[[Optional[str]], None]) -> None:
        self.learner = learner
        self._on_done = on_done
        self._thread: Optional[threading.Thread] = None
        self._token = CancelToken()
        self._busy = False
        self.check = None
        self.page = 0
        self.error: Optional[str] = None

    @property
    def running(self) -> bool:
        """A check is under way."""
        return self._busy

    @property
    def stale(self) -> bool:
        """Labels changed (other than by checking them) since the check ran, or there is none."""
        return self.check is None or self.check.labels_version != self.learner.labels_version

    def start(self) -> bool:
        """Start a check (``False``: one is running already)."""
        if self.running:
            return False
        self.error = None
        self._busy = True
        self._token = CancelToken()
        self._thread = threading.Thread(target=self._run, name="alwidget-check", daemon=True)
        self._thread.start()
        return True

    def cancel(self) -> bool:
        """Ask a running check to stop at its next fold; returns whether one was running."""
        if not self.running:
            return False
        self._token.cancel()
        return True

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for a running check; ``False`` on timeout."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self) -> None:
        try:
            self.check = self.learner.label_issues(cancel=self._token)
            self.page = 0
        except CycleCancelled:
            self.error = "the check was cancelled"
        except Exception as exc:
            self.error = f"{exc}" if isinstance(exc, (ValueError, RuntimeError)) else f"{type(exc).__name__}: {exc}"
        finally:
            self._busy = False  # before on_done: it asks for the ranking
        self._on_done(self.error)

    def candidates(self, n: int, exclude: set, page_size: int) -> List[str]:
        """Up to ``n`` ids of the current page onwards, most suspicious first: labels confirmed or
        corrected since the check (source ``"review"``) and ``exclude`` are left out. Past the
        end it starts over with what is left."""
        if self.check is None or n <= 0:
            return []
        store = self.learner.store

        def open_(item: str) -> bool:
            event = store.get(item)
            return event is not None and event.source != "review" and item not in exclude

        ids = self.check.ids
        rest = [i for i in ids[self.page * page_size:] if open_(i)]
        if not rest and self.page:
            self.page = 0
            rest = [i for i in ids if open_(i)]
        return rest[:n]

    def issue(self, item: str) -> Optional[Any]:
        """The :class:`~alwidget.trust.LabelIssue` of ``item`` in the current check, if any."""
        if self.check is None:
            return None
        if getattr(self, "_index_of", None) is not self.check:
            self._by_id: Dict[str, Any] = {i.item_id: i for i in self.check.issues}
            self._index_of = self.check
        return self._by_id.get(item)

    def headline(self) -> str:
        """One line of plain text for the screen's instructions."""
        if self.running:
            return "Checking your labels: every label is judged by a model that never saw it (a few seconds)…"
        if self.error:
            return f"The check failed: {self.error}"
        if self.check is None:
            return "No check yet."
        left = sum(1 for i in self.check.issues if (e := self.learner.store.get(i.item_id)) is not None
                   and e.source != "review")
        return f"{self.check.summary()}; {left} not yet checked by you."
