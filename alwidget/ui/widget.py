"""The notebook face: :class:`LabelingWidget`.

Layout, toolbar and the public actions; the rest is one module per job, mixed in: what the person
does from the page or the keys (:mod:`~alwidget.ui.commands`), moving and labelling on the grid
(:mod:`~alwidget.ui.navigation`), which cards it shows (:mod:`~alwidget.ui.batches`), background
cycles (:mod:`~alwidget.ui.cycles`) and what the widget says (:mod:`~alwidget.ui.status`). The
labeling board (cards, batch bar, key help, recent labels) is one anywidget,
:class:`~alwidget.ui.board.Board`; the toolbar, status line and export row are a handful of
ipywidgets; the two plots are panels of one plotly figure.
The widget holds no learning logic: it asks the :class:`~alwidget.ActiveLearner` what to show
(``query``, ``predict``, ``uncertainty``, ``history``), forwards what the person does
(``teach``, ``undo``, ``retrain_async``, ``set_strategy``) and renders what the learner
reports.

Threads. A cycle runs on the learner's worker thread. Its progress callback and the end of
the cycle update the widget from that thread by setting widget traits only (ipykernel sends
them to the page); nothing there prints or writes to an ``Output``. The grid is guarded by
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

import ipywidgets as widgets

from .board import Board
from .cards import MAX_BUTTONS, Card, class_keys
from .keyboard import KeyMap
from ..trust.forecast import Forecast
from .checking import LabelChecker
from .plots import labeling_figure
from .batches import Batches
from .commands import Commands
from .cycles import Cycles
from .navigation import Navigation
from .status import StatusText, esc

__all__ = ["LabelingWidget"]

MODES = ("validation", "label", "review", "check")
_MODE_NAMES = {"validation": "Validation set", "label": "Label", "review": "Review suggestions",
               "check": "Check my labels"}
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


class LabelingWidget(Commands, Navigation, Batches, Cycles, StatusText, widgets.VBox):
    """Label images in a notebook while the learner retrains in the background.

    Display it as the last expression of a cell. The grid shows the ``k`` most informative
    unlabelled images; click a class (or press its number key) to label a card, Enter to
    submit the batch. Keys act while the grid has the keyboard focus (a click on a card or
    Tab gives it; Escape or a click elsewhere takes it away), wherever the pointer is. After
    a submitted batch the learner retrains on its worker thread (``auto_retrain``); the
    person keeps labelling, and the grid, the status line and both plots refresh when the
    cycle ends.

    The grid is one widget model whatever ``k`` (an anywidget whose JavaScript ships inside
    the package): it renders in JupyterLab, Notebook 7 and Voila without an extension of its
    own and without fetching anything.

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
        The labeling board (one anywidget): cards, batch bar, key help, recent labels.
    cards : list of Card
        The cards of the grid, in order (plain state; the board draws them).
    recent_events : list of LabelEvent
        The label events of the recent-labels list, newest first.
    status : ipywidgets.HTML
        The status line (labels, cycle, validation accuracy and its interval).
    message : ipywidgets.HTML
        The last short message (saved, undone, ...).
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
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if target is None:
            target = getattr(getattr(learner, "stopping", None), "target_accuracy", None) or DEFAULT_TARGET
        target = _check_target(target)
        if simulate and learner.pool.truth is None:
            raise ValueError("simulate=True needs a pool with known truth (pool.truth); "
                             "build the pool with truth=... or use simulate=False")
        self.learner = learner
        self.k = int(k)
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
        self._review_order: List[str] = []
        self._review_page = 0
        self._progress_last = ("", -1.0, 0.0)
        self.recent_events: List[Any] = []
        self._last_error = ""
        self.last_refresh: Dict[str, float] = {}
        self.mode = "label"
        self.target = target
        self.forecast: Optional[Forecast] = None
        self._forecast_error = ""
        self._checker = LabelChecker(learner, self._check_done)
        learner.background.add("label check", self._checker, weak=True)  # it holds the learner

        if self.simulate:
            self._label_validation_from_truth()

        # -- toolbar (no icons: Font Awesome would come from a CDN in Voila) -------------
        from ..strategies import available_strategies

        names = list(available_strategies())
        current = learner.strategy.name
        if current not in names:
            names.append(current)
        self.mode_buttons = widgets.ToggleButtons(options=[(_MODE_NAMES[m], m) for m in MODES], value="label",
                                                  tooltips=["label the random validation set first",
                                                            "label the most informative images",
                                                            "accept or correct the model's suggestions",
                                                            "find labels that look wrong: each judged by a model "
                                                            "that never saw it"],
                                                  style={"button_width": "auto"})
        self.strategy = widgets.Dropdown(options=names, value=current, description="strategy",
                                         layout=widgets.Layout(width="16em"), style={"description_width": "4.5em"})
        self.k_input = widgets.BoundedIntText(value=self.k, min=1, max=200, description="k",
                                              layout=widgets.Layout(width="7.5em"), style={"description_width": "1.2em"})
        self.auto = widgets.Checkbox(value=bool(auto_retrain), description="auto-retrain after each batch",
                                     indent=False, layout=widgets.Layout(width="auto"))
        self.retrain_button = widgets.Button(description="↻ Retrain now", button_style="primary",
                                             tooltip="train on all labels now, in the background (key r)")
        self.cancel_button = widgets.Button(description="■ Cancel", tooltip="stop the running cycle",
                                            disabled=True, layout=widgets.Layout(width="7em"))
        self.target_input = widgets.BoundedFloatText(value=round(100 * target, 2), min=0.1, max=100.0, step=1.0,
                                                     description="target %",
                                                     tooltip="forecast the labels needed for this validation accuracy",
                                                     layout=widgets.Layout(width="9.5em"),
                                                     style={"description_width": "4em"})
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                              layout=widgets.Layout(width="14em"))
        self.step = widgets.Label("idle", layout=widgets.Layout(width="20em"))
        self.status = widgets.HTML("")
        self.message = widgets.HTML("")
        self.error = widgets.HTML("")
        self.error.add_class("alw-error")
        self.dismiss = widgets.Button(description="dismiss", layout=widgets.Layout(width="6em"))
        self.error_box = widgets.HBox([self.error, self.dismiss], layout=widgets.Layout(display="none"))

        # -- the board: one anywidget for the grid, its batch bar, key help, recent labels ----
        self.board = Board(self.classes, self._digit_keys, columns=self.columns, thumb_size=self.thumb_size,
                           max_buttons=MAX_BUTTONS, simulate=self.simulate, help=self._help_rows())
        self.board.on_msg(self._on_page_message)

        # -- plots --------------------------------------------------------------------
        self.plots = labeling_figure()

        # -- export -------------------------------------------------------------------
        store_path = getattr(learner.store, "path", None)
        default_dir = Path(export_dir) if export_dir is not None else (
            Path(store_path).resolve().parent if store_path else Path.cwd())
        self.export_dir = widgets.Text(value=str(default_dir), description="export to",
                                       layout=widgets.Layout(width="28em"), style={"description_width": "5em"})
        self.csv_button = widgets.Button(description="⤓ Labels CSV", tooltip="write labels.csv")
        self.json_button = widgets.Button(description="⤓ Labels JSON", tooltip="write labels.json")
        self.model_button = widgets.Button(description="⤓ Model",
                                           tooltip="write model.pt (timm-compatible) and model.json")
        export = widgets.HBox([self.export_dir, self.csv_button, self.json_button, self.model_button],
                              layout=widgets.Layout(flex_flow="row wrap"))

        toolbar = widgets.HBox([self.mode_buttons, self.strategy, self.k_input, self.target_input, self.auto,
                                self.retrain_button, self.cancel_button], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        progress_row = widgets.HBox([self.progress, self.step, self.status],
                                    layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        super().__init__([toolbar, progress_row, self.error_box, self.message, self.board, self.plots, export])
        self.add_class("alw-widget")

        # -- wiring -------------------------------------------------------------------
        self.mode_buttons.observe(lambda ch: self.set_mode(ch["new"]) if ch["new"] != self.mode else None,
                                  names="value")
        self.strategy.observe(lambda ch: self._strategy_changed(ch["old"], ch["new"]), names="value")
        self.k_input.observe(lambda ch: self.set_k(ch["new"]) if ch["new"] != self.k else None, names="value")
        self.target_input.observe(lambda ch: self.set_target(ch["new"] / 100.0), names="value")
        self.retrain_button.on_click(lambda _b: self.retrain())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.dismiss.on_click(lambda _b: self._show_error(None))
        self.csv_button.on_click(lambda _b: self.export("csv"))
        self.json_button.on_click(lambda _b: self.export("json"))
        self.model_button.on_click(lambda _b: self.export("model"))
        learner.progress_callbacks.append(self._on_progress)

        first = "validation" if learner.pending_validation() else "label"
        with self._lock:
            self._set_mode(first)
            self._update_plots()
            self._update_recent()
            self._update_status()
            self._update_notes()

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
            if self.mode == "validation":
                if not self.learner.pending_validation():
                    self._set_mode("label")
                    self._flash("The validation set is labelled: now label the most informative images.")
                else:
                    self._fill(keep_labeled=False)
            elif self.mode == "review":
                self._review_page += 1
                self._fill(keep_labeled=False)
            elif self.mode == "check":
                self._checker.page += 1
                self._fill(keep_labeled=False)
            else:
                # cards left unlabelled are passed over: the next batch brings other images
                self._skipped.update(c.item_id for c in self.cards if c.label is None)
                if self.auto.value and self.learner.labels and self.learner.cycle_due:
                    self._start_cycle()
                self._fill(keep_labeled=False)
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
            else:
                self._flash(f"Undid the label <b>{esc(event.label)}</b> of <code>{esc(event.item_id)}</code>.")
            self._after_labels_changed()

    def accept_all(self) -> None:
        """Accept the model's suggestion for every unlabelled, unskipped card shown."""
        with self._lock:
            if self.mode == "validation":
                self._flash("Validation labels are given without the model's help.")
                return
            if self.mode == "check":
                self._flash("Checking labels goes card by card: <kbd>c</kbd> keeps a label, a class changes it.")
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
        """Forecast the labels needed for validation accuracy ``target`` (in ``(0, 1]``)."""
        try:
            target = _check_target(target)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        with self._lock:
            self.target = target
            if abs(self.target_input.value - 100 * target) > 1e-9:
                self.target_input.value = round(100 * target, 2)
            self._update_forecast()
            self._update_status()

    def check_labels(self) -> None:
        """Show "Check my labels" and run a new check (see :meth:`ActiveLearner.label_issues`)."""
        with self._lock:
            self._checker.check = None
            self._set_mode("check")
            self._update_status()

    def set_k(self, k: int) -> None:
        """Show ``k`` cards per batch (labelled cards stay)."""
        k = int(k)
        if k < 1:
            return
        with self._lock:
            self.k = k
            if self.k_input.value != k:
                self.k_input.value = k
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
        target = Path(folder if folder is not None else self.export_dir.value).expanduser()
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
        """Stop listening to the learner and close every widget (the learner stays open)."""
        self._closed = True
        if not hasattr(self, "_lock"):  # __init__ refused its arguments: nothing was built
            super().close()
            return
        try:
            self.learner.progress_callbacks.remove(self._on_progress)
        except ValueError:
            pass
        with self._lock:
            self.cards = []
        todo, seen = list(self.children), set()
        while todo:  # every widget of the layout, depth first (figures and the board included)
            w = todo.pop()
            if id(w) in seen:
                continue
            seen.add(id(w))
            todo.extend(getattr(w, "children", ()) or ())
            w.close()
        super().close()

    # ================================================================== the page
    # ================================================================== keyboard
    # ================================================================== labels
    # ================================================================== the grid
    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "review" and self.learner.uncertainty is None:
            self._flash("Review needs a model: label a batch and retrain first.")
            mode = "label" if self.mode == "review" else self.mode
        if mode == "check":
            if not self.learner.store.labels(split=None):
                self._flash("Nothing to check yet: label some images first.")
                mode = "label" if self.mode == "check" else self.mode
            elif self._checker.stale and not self._checker.running:
                self._checker.start()
        self.mode = mode
        if self.mode_buttons.value != mode:
            self.mode_buttons.value = mode  # re-enters set_mode once; harmless
        self._keys.cancel()
        if mode == "review":
            self._review_order = self._hardest_first()
            self._review_page = 0
        with self.board.hold_sync():
            self.board.mode = mode
            self.board.instructions = self._instructions()
            self._fill(keep_labeled=False)

    # ================================================================== cycles
    # ================================================================== side panels
    def __repr__(self) -> str:
        return f"LabelingWidget(k={self.k}, mode={self.mode!r}, cards={self.grid_ids!r})"
