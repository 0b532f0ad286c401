"""The notebook face: :class:`LabelingWidget`.

The page is one anywidget, :class:`~alwidget.ui.board.Board` (toolbar, progress and status,
errors and messages, the card grid with its batch bar, key help and recent labels, the export
row; one ES module and one CSS file inside the package), beside one plotly figure with both plots.
Three widget models in all, whatever ``k``. Both are anywidgets, so the widget renders in
JupyterLab, Notebook 7, Voila and marimo alike: Jupyter shows them through ``_ipython_display_``,
marimo through its display protocol ``_display_``.

:class:`LabelingWidget` is the Python side: it keeps every decision and all the state, and mixes
in one module per job: the one table of commands for the page, the keys and code
(:mod:`~alwidget.ui.commands`), moving and labelling on the grid (:mod:`~alwidget.ui.navigation`),
which cards it shows (:mod:`~alwidget.ui.batches`), background cycles (:mod:`~alwidget.ui.cycles`)
and what the widget says (:mod:`~alwidget.ui.status`).
The widget holds no learning logic: it asks the :class:`~alwidget.ActiveLearner` what to show
(``query``, ``predict``, ``uncertainty``, ``history``), forwards what the person does
(``teach``, ``undo``, ``retrain_async``, ``set_strategy``) and renders what the learner
reports.

Threads. A cycle runs on the learner's worker thread. Its progress callback and the end of
the cycle update the widget from that thread by setting widget traits only (ipykernel and marimo
send them to the page); nothing there prints or writes to an ``Output``. The grid is guarded by
one lock, so a message from the page handled on the kernel's main thread and a refresh from
the worker never interleave.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from .board import Board
from .cards import MAX_BUTTONS, Card, class_keys
from .keyboard import KeyMap
from ..trust.forecast import Forecast
from .checking import LabelChecker
from .plots import labeling_figure
from .screens import SCREENS, Screen, make_screens
from .batches import Batches
from .commands import Commands
from .cycles import Cycles
from .navigation import Navigation
from .pool_map import PoolMapView
from .status import StatusText, esc

__all__ = ["LabelingWidget"]

#: The screens' names, in the toolbar's order (:mod:`alwidget.ui.screens`).
MODES = tuple(cls.name for cls in SCREENS)
#: The most cards a batch can show.
MAX_K = 200
#: Validation accuracy the widget forecasts labels for, unless told (or the stopping rule has a target).
DEFAULT_TARGET = 0.95


def _check_target(target: Any) -> float:
    """``target`` as a validation accuracy in ``(0, 1]``, or a ValueError that says what to give."""
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise ValueError(f"target must be a validation accuracy such as 0.95, got {target!r}") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        hint = f" (did you mean {value / 100:g}?)" if 1.0 < value <= 100.0 else ""
        raise ValueError(f"target must be a validation accuracy in (0, 1], got {value}{hint}")
    return value


class LabelingWidget(Commands, Navigation, Batches, Cycles, PoolMapView, StatusText):
    """Label images in a notebook while the learner retrains in the background.

    Display it as the last expression of a cell. The grid shows the ``k`` most informative
    unlabelled images; click a class (or press its number key) to label a card, Enter to
    submit the batch. Keys act while the grid has the keyboard focus (a click on a card or
    Tab gives it; Escape or a click elsewhere takes it away), wherever the pointer is. After
    a submitted batch the learner retrains on its worker thread (``auto_retrain``); the
    person keeps labelling, and the grid, the status line and both plots refresh when the
    cycle ends.

    The page is one widget model whatever ``k`` (an anywidget whose JavaScript ships inside the
    package) beside one plotly figure: it renders in JupyterLab, Notebook 7, Voila and marimo
    (the cell's last expression; or ``mo.vstack([w.board, w.plots])``) without an extension of
    its own and without fetching anything. The toolbar's fields, its buttons, the keys and code
    all run the commands of :data:`alwidget.ui.commands.COMMANDS`.

    Parameters
    ----------
    learner : ActiveLearner
        The session to drive.
    k : int
        Cards per batch.
    columns : int
        Cards per row (↑ and ↓ move by one row).
    auto_retrain : bool
        Start a background cycle after each submitted batch.
    simulate : bool
        The pool's known truth answers on request: the validation set is labelled from it
        (the first screen is skipped) and an *oracle* button (key ``o``) answers a batch.
        Every such label has the source ``"oracle"``.
    baseline : iterable, optional
        A baseline curve for the accuracy plot (e.g. ``alwidget.simulate.run(...,
        strategy="random")`` records); see :func:`alwidget.ui.plots.baseline_curve`.
    export_dir : path, optional
        Default folder for exports (the label store's folder, else the working directory).
    thumb_size : int
        Longest side of a card's image, in pixels.
    recent : int
        Rows in the recent-labels list.
    target : float, optional
        Validation accuracy in ``(0, 1]`` to forecast the labels for (the *target %* field; default:
        the learner's stopping target, else :data:`DEFAULT_TARGET`). After each cycle the status
        line says e.g. "≈ 420 labels to 95 % (300–650)" and the accuracy plot draws the projected
        curve (see :meth:`ActiveLearner.forecast`).

    The screens (:meth:`set_mode`): *Validation set*, *Label*, *Review suggestions*, and *Check my
    labels*: every label given so far judged by a model that never saw it (a k-fold of the fast
    cycle, ranked by cleanlab; :meth:`ActiveLearner.label_issues`), most suspicious first. A class
    corrects a label, ``c`` keeps it; both are stored as events of source ``"review"``, and a
    checked label is not shown again.

    Attributes
    ----------
    learner : ActiveLearner
    board : Board
        The page (one anywidget): toolbar, status, cards, batch bar, key help, recent labels, exports.
    cards : list of Card
        The cards of the grid, in order (plain state; the board draws them).
    recent_events : list of LabelEvent
        The label events of the recent-labels list, newest first.
    k, mode, target, auto_retrain, export_dir
        The toolbar's settings (read from the board; change them with ``set_k``, ``set_mode``,
        ``set_target``, or assign ``auto_retrain`` / ``export_dir``).
    status, message, error : str
        The status line and the last message (HTML), the error line (text).
    plots : plotly.graph_objects.FigureWidget
        One figure, two panels: pool uncertainty and accuracy vs labels (updated in place;
        see :func:`alwidget.ui.plots.labeling_figure`).
    last_refresh : dict
        ``{"at": time.monotonic() of the last grid refresh after a cycle, "seconds": its cost,
        "cycle": the cycle number}`` (empty before the first cycle); for benchmarks.

    Examples
    --------
    >>> learner = ActiveLearner(alwidget.datasets.digits(), store="labels.db")  # doctest: +SKIP
    >>> LabelingWidget(learner, k=12)  # doctest: +SKIP
    """

    def __init__(self, learner: Any, k: int = 12, *, columns: int = 4, auto_retrain: bool = True,
                 simulate: bool = False, baseline: Optional[Iterable[Any]] = None,
                 export_dir: Optional[os.PathLike] = None, thumb_size: int = 112, recent: int = 8,
                 target: Optional[float] = None) -> None:
        if not 1 <= int(k) <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K} cards per batch, got {k}")
        if target is None:
            target = getattr(getattr(learner, "stopping", None), "target_accuracy", None) or DEFAULT_TARGET
        target = _check_target(target)
        if simulate and learner.pool.truth is None:
            raise ValueError("simulate=True needs a pool with known truth (pool.truth); "
                             "build the pool with truth=... or use simulate=False")
        self.learner = learner
        self.columns = max(1, int(columns))
        self.simulate = bool(simulate)
        self.thumb_size = int(thumb_size)
        self.n_recent = int(recent)
        self.classes: List[str] = list(learner.classes)
        self._baseline = list(baseline) if baseline is not None else None
        self._keys = KeyMap(self.classes)
        self._digit_keys = class_keys(self.classes)
        self._lock = threading.RLock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending_retrain = False
        self._watched: Any = None
        self._closed = False
        self.cards: List[Card] = []
        self._focus = 0
        self._skipped: set = set()
        self._touched: Dict[str, float] = {}
        self.screens: Dict[str, Screen] = make_screens()
        self._progress_last = ("", -1.0, 0.0)
        self.recent_events: List[Any] = []
        self._last_error = ""
        self.last_refresh: Dict[str, float] = {}
        self.forecast: Optional[Forecast] = None
        self._forecast_error = ""
        self._checker = LabelChecker(learner, self._check_done)
        learner.background.add("label check", self._checker, weak=True)  # it holds the learner

        if self.simulate:
            self._label_validation_from_truth()

        # -- the page: one anywidget (toolbar, status, board, recent labels, export row) -------
        from ..strategies import available_strategies

        names = list(available_strategies())
        if learner.strategy.name not in names:
            names.append(learner.strategy.name)
        store_path = getattr(learner.store, "path", None)
        default_dir = Path(export_dir) if export_dir is not None else (
            Path(store_path).resolve().parent if store_path else Path.cwd())
        self.board = Board(self.classes, self._digit_keys, columns=self.columns, thumb_size=self.thumb_size,
                           max_buttons=MAX_BUTTONS, simulate=self.simulate, help=self._help_rows(),
                           screens=[[sc.name, sc.title, sc.tip] for sc in self.screens.values()], strategies=names,
                           strategy=learner.strategy.name, k=int(k), target=target, auto_retrain=bool(auto_retrain),
                           export_dir=str(default_dir))
        self.board.on_msg(self._on_page_message)

        # -- plots: one plotly figure, beside the board ---------------------------------------
        self.plots = labeling_figure()
        self.plots.add_class("alw-plots")
        learner.progress_callbacks.append(self._on_progress)

        first = "validation" if learner.pending_validation() else "label"
        with self._lock:
            self._set_mode(first)
            self._update_plots()
            self._update_recent()
            self._update_status()
            self._update_notes()

    # ================================================================== display
    def _ipython_display_(self) -> None:
        """Show the page (the board) and the plots, one under the other (Jupyter, Voila)."""
        from IPython.display import display

        display(self.board, self.plots)

    def _display_(self) -> Any:
        """marimo's display protocol: the board and the plots, one under the other."""
        import marimo as mo

        return mo.vstack([self.board, self.plots])

    @property
    def widgets(self) -> List[Any]:
        """The widget models on the page: ``[board, plots]`` (e.g. to place them in a layout yourself)."""
        return [self.board, self.plots]

    def add_class(self, name: str) -> "LabelingWidget":
        """Add CSS class ``name`` to the board and the plots (as ipywidgets' ``add_class``); returns self."""
        self.board.add_class(name)
        self.plots.add_class(name)
        return self

    # ================================================================== state the page shows
    @property
    def k(self) -> int:
        """Cards per batch (see :meth:`set_k`)."""
        return int(self.board.k)

    @property
    def screen(self) -> Screen:
        """The screen shown (:mod:`alwidget.ui.screens`): what the grid shows and what Enter does."""
        return self.screens[self.mode]

    @property
    def mode(self) -> str:
        """The screen shown: one of :data:`MODES` (see :meth:`set_mode`)."""
        return str(self.board.mode)

    @property
    def target(self) -> float:
        """Validation accuracy the forecast is for, in ``(0, 1]`` (see :meth:`set_target`)."""
        return float(self.board.target)

    @property
    def auto_retrain(self) -> bool:
        """Start a background cycle after each submitted batch (the page's checkbox)."""
        return bool(self.board.auto_retrain)

    @auto_retrain.setter
    def auto_retrain(self, on: bool) -> None:
        self.board.auto_retrain = bool(on)

    @property
    def status(self) -> str:
        """The status line, as HTML (labels, cycle, validation accuracy and its interval, forecast)."""
        return str(self.board.status)

    @property
    def message(self) -> str:
        """The last short message (saved, undone, ...), as HTML."""
        return str(self.board.message)

    @property
    def error(self) -> str:
        """The error shown (plain text; empty when none)."""
        return str(self.board.error)

    @property
    def export_dir(self) -> str:
        """The folder the export buttons write to."""
        return str(self.board.export_dir)

    @export_dir.setter
    def export_dir(self, folder: os.PathLike) -> None:
        self.board.export_dir = str(folder)

    # ================================================================== public actions
    @property
    def grid_ids(self) -> List[str]:
        """The item ids shown in the grid, in order."""
        with self._lock:
            return [card.item_id for card in self.cards]

    @property
    def focused(self) -> Optional[Card]:
        """The card the keyboard acts on."""
        with self._lock:
            return self.cards[self._focus] if self.cards else None

    def handle_event(self, event: Dict[str, Any]) -> None:
        """Act on one key event (``{"type": "keydown", "key": "3", "shiftKey": False}``).

        The page sends the keys it does not handle itself this way; :meth:`press` too.
        """
        if self._closed:
            return
        try:
            action = self._keys(event)
            if action.kind != "none":
                self._do(action)
        except Exception as exc:  # an event handler must never raise into the comm layer
            self._show_error(f"{type(exc).__name__}: {exc}")

    def press(self, *keys: str) -> None:
        """Press keys, as if typed with the grid focused (for scripts, tests and teaching)."""
        for key in keys:
            self.handle_event({"type": "keydown", "key": key})

    def submit(self) -> None:
        """Submit the batch: show the next one, and start a background cycle if auto-retrain is on.

        Cards left unlabelled count as skipped: later batches of this session show other images.
        """
        with self._lock:
            self._keys.cancel()
            self.screen.submit(self)
            self._update_status()

    def refresh(self) -> None:
        """Re-read labels and the latest model from the learner (after teaching from code, say).

        Labelled cards stay; the others follow the current ranking. In the validation screen,
        a completed validation set moves on to labelling.
        """
        with self._lock:
            if self.mode == "validation" and not self.learner.pending_validation():
                self._set_mode("label")
            else:
                self._fill(keep_labeled=True)
            self._update_plots()
            self._update_recent()
            self._update_status()
            self._update_notes()

    def retrain(self) -> None:
        """Start a background cycle now (queued after the running one, if any)."""
        with self._lock:
            self._start_cycle(force=True)
            self._update_status()

    def cancel(self) -> None:
        """Stop the running cycle (the previous model is kept) and drop a queued one."""
        with self._lock:
            self._pending_retrain = False
        if self.learner.cancel():
            self._flash("Cancelling the cycle…")

    def undo(self, item_id: Optional[str] = None) -> None:
        """Undo the latest label (of ``item_id`` if given); the cards and lists follow."""
        with self._lock:
            try:
                event = self.learner.undo(item_id)
            except Exception as exc:
                self._show_error(f"{type(exc).__name__}: {exc}")
                return
            if event is None:
                self._flash("Nothing to undo.")
            elif event.group is not None and item_id is None:
                self._flash(f"Undid the labels given together as <b>{esc(event.label)}</b> ({esc(event.source)}).")
            else:
                self._flash(f"Undid the label <b>{esc(event.label)}</b> of <code>{esc(event.item_id)}</code>.")
            self._after_labels_changed()

    def accept_all(self) -> None:
        """Accept the model's suggestion for every unlabelled, unskipped card shown."""
        with self._lock:
            if self.screen.accept_all is not None:
                self._flash(esc(self.screen.accept_all[0].upper() + self.screen.accept_all[1:]) + ".")
                return
            todo = [c for c in self.cards if c.label is None and not c.skipped and c.suggestion is not None]
            if not todo:
                self._flash("No suggestions to accept here.")
                return
            self._teach([c.item_id for c in todo], [c.suggestion.label for c in todo], "suggestion")

    def oracle(self) -> None:
        """Simulation: label the unlabelled, unskipped cards shown from the pool's known truth."""
        if not self.simulate:
            self._flash("The oracle answers only in a simulation: LabelingWidget(learner, simulate=True).")
            return
        truth = self.learner.pool.truth
        with self._lock:
            todo = [c for c in self.cards if c.label is None and not c.skipped and truth.get(c.item_id) is not None]
            if todo:
                self._teach([c.item_id for c in todo], [truth[c.item_id] for c in todo], "oracle")

    def set_mode(self, mode: str) -> None:
        """Show the validation set, the most informative images, or the model's suggestions."""
        with self._lock:
            self._set_mode(mode)
            self._update_status()

    def set_target(self, target: float) -> None:
        """Forecast the labels needed for validation accuracy ``target`` (in ``(0, 1]``).

        Raises ``ValueError`` for another value (the page's field shows it and keeps the old one).
        """
        target = _check_target(target)
        with self._lock:
            self.board.target = target
            self._update_forecast()
            self._update_status()

    def set_strategy(self, name: str) -> None:
        """Rank the next batches with strategy ``name`` (see :func:`alwidget.strategies.available_strategies`).

        A strategy that cannot run on this learner raises ``ValueError`` (the page shows why); the old one stays.
        """
        with self._lock:
            old = self.learner.strategy.name
            if name == old:
                self.board.strategy = old
                return
            try:
                self.learner.set_strategy(name)
                if self.learner.uncertainty is not None:
                    self.learner.query(1)  # fails now, not at the next batch, if the strategy cannot run
            except Exception as exc:
                try:
                    self.learner.set_strategy(old)
                except Exception:
                    pass
                self.board.strategy = old
                raise ValueError(f"strategy {name!r} cannot be used: {exc}") from exc
            self.board.strategy = name
            self._flash(f"Strategy: {esc(name)} (scores refresh at the next cycle).")
            if self.mode == "label":
                self._fill(keep_labeled=True)
            self._update_status()

    def check_labels(self) -> None:
        """Show "Check my labels" and run a new check (see :meth:`ActiveLearner.label_issues`)."""
        with self._lock:
            self._checker.check = None
            self._set_mode("check")
            self._update_status()

    def set_k(self, k: int) -> None:
        """Show ``k`` cards per batch (labelled cards stay); ``ValueError`` outside 1 … :data:`MAX_K`."""
        k = int(k)
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K} cards per batch, got {k}")
        with self._lock:
            self.board.k = k
            self._fill(keep_labeled=True)

    def set_baseline(self, records: Optional[Iterable[Any]]) -> None:
        """Draw (or remove, with ``None``) the baseline curve of the accuracy plot."""
        with self._lock:
            self._baseline = list(records) if records is not None else None
            self._update_plots()

    def export(self, what: str, folder: Optional[os.PathLike] = None) -> Optional[Path]:
        """Write ``labels.csv``, ``labels.json`` or ``model.pt`` (+ ``model.json``) to ``folder``.

        Parameters
        ----------
        what : {"csv", "json", "model"}
        folder : path, optional
            Default: the *export to* field.

        Returns
        -------
        pathlib.Path or None
            The file written, or ``None`` when it failed (the error is shown in the widget).
        """
        target = Path(folder if folder is not None else self.board.export_dir).expanduser()
        try:
            if what == "csv":
                path = self.learner.store.export_csv(target / "labels.csv")
            elif what == "json":
                path = self.learner.store.export_json(target / "labels.json")
            elif what == "model":
                path, _config = self.learner.save_model(target / "model.pt")
            else:
                raise ValueError(f"export what={what!r}: use 'csv', 'json' or 'model'")
        except Exception as exc:
            self._show_error(f"export failed: {type(exc).__name__}: {exc}")
            return None
        self._flash(f"Saved <code>{esc(path)}</code>.")
        return Path(path)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until no background cycle is running and the widget has refreshed.

        Returns ``False`` on timeout. Handy in scripts and tests; in a notebook the widget
        refreshes by itself.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._idle.is_set() and not self.learner.running:
                time.sleep(0.01)
                if self._idle.is_set() and not self.learner.running:
                    return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            self._idle.wait(0.05)
            time.sleep(0.02)

    def close(self) -> None:
        """Stop listening to the learner and close the board and the plots (the learner stays open)."""
        self._closed = True
        if not hasattr(self, "_lock"):  # __init__ refused its arguments: nothing was built
            return
        try:
            self.learner.progress_callbacks.remove(self._on_progress)
        except ValueError:
            pass
        with self._lock:
            self.cards = []
        for w in (getattr(self, "board", None), getattr(self, "plots", None)):
            if w is not None:
                w.close()

    # ================================================================== the page
    # ================================================================== keyboard
    # ================================================================== labels
    # ================================================================== the grid
    def _set_mode(self, mode: str) -> None:
        if mode not in self.screens:
            raise ValueError(f"mode must be one of {tuple(self.screens)}, got {mode!r}")
        why = self.screens[mode].enter(self)
        if why is not None:  # the screen cannot open now: say why, stay (or go to Label if it is this one)
            self._flash(esc(why))
            mode = "label" if self.mode == mode else self.mode
        self.board.mode = mode
        self._keys.cancel()
        with self.board.hold_sync():
            self.board.instructions = self.screen.instructions(self)
            self._fill(keep_labeled=False)

    # ================================================================== cycles
    # ================================================================== side panels
    def __repr__(self) -> str:
        return f"LabelingWidget(k={self.k}, mode={self.mode!r}, cards={self.grid_ids!r})"
