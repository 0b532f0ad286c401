"""The widget's screens as objects: *Validation set*, *Label*, *Review suggestions*, *Check my labels*, *Map*.

A screen says which cards the grid shows, what Enter does, whether the model's suggestions show
and may be accepted, what the instructions say, and what changes when a cycle ends. The widget
asks the screen shown (:attr:`LabelingWidget.screen`) instead of branching on its name; a new
screen is one more subclass of :class:`Screen` in :data:`SCREENS`.

Each widget has its own screen objects (:func:`make_screens`): a screen may keep its own state
(the review order and page; the check's page is :class:`~alwidget.ui.checking.LabelChecker`'s).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .status import esc

__all__ = ["Screen", "ValidationScreen", "LabelScreen", "ReviewScreen", "CheckScreen", "MapScreen", "SCREENS",
           "make_screens"]


class Screen:
    """One screen of :class:`~alwidget.ui.widget.LabelingWidget` (the defaults are *Label*'s).

    Attributes
    ----------
    name : str
        The ``mode`` it is shown for.
    title, tip : str
        The toolbar tab's text and tooltip.
    suggestions : bool
        Cards show the model's suggestion, and ``a`` / *Accept suggestion* takes it.
    no_suggestions : str
        Why not, when ``suggestions`` is False (plain text).
    accept_all : str or None
        Why *Accept all shown* is refused here (plain text; ``None``: it is allowed).
    confirms : bool
        A class on a labelled card confirms or corrects it (stored as ``"review"``), and ``c`` keeps it.
    cards : bool
        The screen shows the card grid (the map shows the pool instead).
    """

    name = "label"
    title = "Label"
    tip = "label the most informative images"
    suggestions = True
    no_suggestions = ""
    accept_all: Optional[str] = None
    confirms = False
    cards = True

    def enter(self, w: Any) -> Optional[str]:
        """Prepare to be shown; returns why the screen cannot open now (plain text), else ``None``."""
        return None

    def instructions(self, w: Any) -> str:
        """The instructions above the grid (HTML, every dynamic part escaped)."""
        return ("<b>Label</b> the images the model is least sure about: click a class or press its key; "
                "Enter submits the batch. Click a card (or Tab to the grid) for keys; <kbd>?</kbd> lists them.")

    def live_instructions(self, w: Any) -> bool:
        """The instructions change as cards are labelled (they are rewritten at each fill)."""
        return False

    def candidates(self, w: Any, n: int, exclude: set) -> List[str]:
        """Up to ``n`` item ids for the empty places of the grid, not in ``exclude``."""
        return w.learner.query(n, exclude=exclude | w._skipped)

    def submit(self, w: Any) -> None:
        """Enter: cards left unlabelled are passed over; the next batch, and a cycle if due."""
        w._skipped.update(c.item_id for c in w.cards if c.label is None)
        if w.auto_retrain and w.learner.labels and w.learner.cycle_due:
            w._start_cycle()
        w._fill(keep_labeled=False)

    def after_cycle(self, w: Any) -> None:
        """A cycle ended well: the new ranking and suggestions (labelled cards stay)."""
        w._fill(keep_labeled=True)

    def teach(self, w: Any, ids: Sequence[str], labels: Sequence[str], source: str) -> None:
        """Store labels given on this screen."""
        w.learner.teach(list(ids), list(labels), source=source)


class LabelScreen(Screen):
    """*Label*: the images the model is least sure about (inside the map's selection, after *Query here*)."""

    def __init__(self) -> None:
        self.within: Optional[set] = None
        """Item ids the next batch comes from (:meth:`~alwidget.ui.pool_map.PoolMapView.query_here`); ``None``: all."""

    def candidates(self, w: Any, n: int, exclude: set) -> List[str]:
        if self.within is not None:
            exclude = exclude | (set(w.learner.pool.ids) - self.within)
        return super().candidates(w, n, exclude)

    def submit(self, w: Any) -> None:
        super().submit(w)
        self.within = None  # one batch from the selection; the next from the whole pool


class ValidationScreen(Screen):
    """The random validation set, labelled first and without the model's help."""

    name = "validation"
    title = "Validation set"
    tip = "label the random validation set first"
    suggestions = False
    no_suggestions = "validation labels are given without the model's help"
    accept_all = "validation labels are given without the model's help"

    def instructions(self, w: Any) -> str:
        n = len(w.learner.pending_validation())
        return (f"<b>First: label the random validation set</b> ({n} left). It measures accuracy "
                "honestly, so the model's guesses are hidden here. Enter shows the next page.")

    def live_instructions(self, w: Any) -> bool:
        return True

    def candidates(self, w: Any, n: int, exclude: set) -> List[str]:
        pending = [i for i in w.learner.pending_validation() if i not in exclude]  # skipped ones come back last
        return ([i for i in pending if i not in w._skipped] + [i for i in pending if i in w._skipped])[:n]

    def submit(self, w: Any) -> None:
        if not w.learner.pending_validation():
            w._set_mode("label")
            w._flash("The validation set is labelled: now label the most informative images.")
        else:
            w._fill(keep_labeled=False)

    def after_cycle(self, w: Any) -> None:
        w._sync_cards()
        w._push_cards()


class ReviewScreen(Screen):
    """The model's suggestions for the rest of the pool, hardest first, a page at a time."""

    name = "review"
    title = "Review suggestions"
    tip = "accept or correct the model's suggestions"

    def __init__(self) -> None:
        self.order: List[str] = []
        self.page = 0

    def enter(self, w: Any) -> Optional[str]:
        if w.learner.uncertainty is None:
            return "Review needs a model: label a batch and retrain first."
        self.order, self.page = w._hardest_first(), 0
        return None

    def instructions(self, w: Any) -> str:
        return ("<b>Review</b>: the model's suggestions for the rest of the pool, hardest first. "
                "<kbd>a</kbd> accepts, a class button or number key corrects, Enter shows the next page.")

    def candidates(self, w: Any, n: int, exclude: set) -> List[str]:
        taken = set(w.learner.store.labels(split=None))
        rest = [i for i in self.order[self.page * w.k:] if i not in taken and i not in exclude]
        if not rest and self.page:  # past the end: start over with what is left
            self.page = 0
            rest = [i for i in self.order if i not in taken and i not in exclude]
        return rest[:n]

    def submit(self, w: Any) -> None:
        self.page += 1
        w._fill(keep_labeled=False)

    def after_cycle(self, w: Any) -> None:
        self.order, self.page = w._hardest_first(), 0
        w._fill(keep_labeled=True)


class CheckScreen(Screen):
    """*Check my labels*: every label judged by a model that never saw it, most suspicious first."""

    name = "check"
    title = "Check my labels"
    tip = "find labels that look wrong: each judged by a model that never saw it"
    accept_all = "checking labels goes card by card: c keeps a label, a class changes it"
    confirms = True

    def enter(self, w: Any) -> Optional[str]:
        if not w.learner.store.labels(split=None):
            return "Nothing to check yet: label some images first."
        if w._checker.stale and not w._checker.running:
            w._checker.start()
        return None

    def instructions(self, w: Any) -> str:
        checker = w._checker
        notes = "" if checker.check is None else "".join(
            f"<br><span class='alw-muted'>{esc(n)}</span>" for n in checker.check.notes)
        return (f"<b>Check my labels</b>: {esc(checker.headline())} Most suspicious first. A class button "
                "or number key corrects a label, <kbd>c</kbd> keeps it, <kbd>a</kbd> takes the unseen model's "
                "class; Enter shows the next page." + notes)

    def live_instructions(self, w: Any) -> bool:
        return True

    def candidates(self, w: Any, n: int, exclude: set) -> List[str]:
        return [] if w._checker.running else w._checker.candidates(n, exclude, w.k)

    def submit(self, w: Any) -> None:
        w._checker.page += 1
        w._fill(keep_labeled=False)

    def after_cycle(self, w: Any) -> None:
        w._sync_cards()
        w._push_cards()

    def teach(self, w: Any, ids: Sequence[str], labels: Sequence[str], source: str) -> None:
        """A checked label: the same class confirms it, another corrects it (both ``"review"``)."""
        store = w.learner.store
        same = [i for i, lab in zip(ids, labels) if (e := store.get(i)) is not None and e.label == lab]
        changed = [(i, lab) for i, lab in zip(ids, labels) if i not in same]
        if same:
            w.learner.confirm(same)
        if changed:
            w.learner.teach([i for i, _ in changed], [lab for _, lab in changed], source="review")


class MapScreen(Screen):
    """*Map*: the pool laid out by its representation; a region dragged around is labelled at once."""

    name = "map"
    title = "Map"
    tip = "the pool as a map of the representation: drag around a region to label it at once"
    accept_all = "on the map, select a region and label it with one class"
    cards = False

    def enter(self, w: Any) -> Optional[str]:
        w._start_map()
        return None

    def instructions(self, w: Any) -> str:
        return ("<b>Map</b> of the pool, laid out by the representation in use: similar images lie close. "
                "Drag around a region to select it; a class button labels all of it at once (validation "
                "images are left out), <i>Undo last</i> takes it back; <i>Query here</i> "
                "shows the next batch from inside it. The wheel zooms, Shift+drag moves the map, a double click resets it.")

    def candidates(self, w: Any, n: int, exclude: set) -> List[str]:
        return []  # no cards: the map takes the grid's place

    def submit(self, w: Any) -> None:
        w._flash("On the map, select a region and label it, or choose <i>Query here</i>.")

    def after_cycle(self, w: Any) -> None:
        w._start_map()  # a new representation gives a new map; new predictions recolour it


#: The screens, in the toolbar's order.
SCREENS = (ValidationScreen, LabelScreen, ReviewScreen, CheckScreen, MapScreen)


def make_screens() -> Dict[str, Screen]:
    """One object per screen for one widget, by name, in the toolbar's order."""
    return {cls.name: cls() for cls in SCREENS}
