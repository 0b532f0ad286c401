"""The notebook face: :class:`LabelingWidget`.

Layout, toolbar and the wiring of background cycles. The labeling board (cards, batch bar,
key help, recent labels) is one anywidget, :class:`~alwidget.ui.board.Board`; the toolbar,
status line and export row are a handful of ipywidgets; the two plots are panels of one plotly figure.
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

import html
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import ipywidgets as widgets
import numpy as np

from ..report import uncertainty_band
from .board import Board
from .cards import MAX_BUTTONS, Card, Suggestion, class_keys
from .keyboard import KEY_HELP, KeyAction, KeyMap
from ..trust.forecast import Forecast
from .checking import LabelChecker
from .plots import labeling_figure, update_accuracy, update_forecast, update_uncertainty

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


_KEY_GRACE_S = 2.0  # a card touched this recently is not swapped away under the person's hands


def _esc(text: Any) -> str:
    return html.escape(str(text))


_STEP_LABELS = {"done": "cycle done", "failed": "cycle failed", "represent": "learning the pool",
                "embed": "embedding the pool", "load": "reading images", "graph": "building the graph",
                "refine": "fine-tuning the trunk (background)", "features": "features",
                "check labels": "checking labels", "wait": "waiting for another learner's build of the same representation"}


def _step_label(step: str, fraction: float) -> str:
    """The progress label: a step's name in words, with its percentage for the long background ones."""
    name = _STEP_LABELS.get(step, step)
    if step in ("represent", "embed", "refine", "load", "check labels") and fraction < 1.0:
        return f"{name} {100 * fraction:.0f} %"
    return name if step in ("done", "failed") else f"{name}…"


class LabelingWidget(widgets.VBox):
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
                self._flash(f"Undid the label <b>{_esc(event.label)}</b> of <code>{_esc(event.item_id)}</code>.")
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
        self._flash(f"Saved <code>{_esc(path)}</code>.")
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
                    self._flash(f"No suggestion to accept: {_esc(why)}.")
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
                self._flash(_esc(why[0].upper() + why[1:]) + ".")
                self._push_cards()
                return False, why
            return self._teach_item(str(item), label, "human")
        if kind == "confirm":
            card = self._card(item)
            if self.mode != "check" or card is None or card.label is None:
                why = ("keeping a label as it is belongs to Check my labels" if self.mode != "check"
                       else "this card has no label to keep")
                self._flash(_esc(why[0].upper() + why[1:]) + ".")
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

    # ================================================================== keyboard
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

    def _accept_focused(self) -> None:
        with self._lock:
            card = self.focused
            if card is None:
                return
            if self.mode == "validation" or card.suggestion is None:
                self._flash("No suggestion to accept here" + (
                    " (validation labels are given without the model's help)." if self.mode == "validation" else
                    ": train a model first."))
                return
            if self._label_card(card, card.suggestion.label, "suggestion"):
                self._advance()
            self._push_cards()

    def _skip_focused(self) -> None:
        with self._lock:
            card = self.focused
            if card is None:
                return
            if card.label is None:
                self._skipped.add(card.item_id)
                card.skipped = True
            self._advance()
            self._push_cards()

    # ================================================================== labels
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
        if card.label == label and card.source == source and self.mode != "check":
            return True
        return self._teach([card.item_id], [label], source)

    def _teach(self, ids: List[str], labels: List[str], source: str) -> bool:
        try:
            if self.mode == "check":  # a checked label: the same class confirms it, another corrects it
                store = self.learner.store
                same = [i for i, lab in zip(ids, labels) if (e := store.get(i)) is not None and e.label == lab]
                changed = [(i, lab) for i, lab in zip(ids, labels) if i not in same]
                if same:
                    self.learner.confirm(same)
                if changed:
                    self.learner.teach([i for i, _ in changed], [lab for _, lab in changed], source="review")
            else:
                self.learner.teach(ids, labels, source=source)
        except Exception as exc:
            self._last_error = f"label not saved: {type(exc).__name__}: {exc}"
            self._show_error(self._last_error)
            self._after_labels_changed()
            return False
        self._skipped.difference_update(ids)
        self._after_labels_changed()
        return True

    def _after_labels_changed(self) -> None:
        """Re-read labels from the store into the cards, the recent list and the status."""
        with self._lock:
            self._sync_cards()
            self._push_cards()
            self._update_recent()
            self._update_status()

    def _sync_cards(self, suggestions: Optional[Dict[str, Suggestion]] = None) -> None:
        store = self.learner.store
        show = self.mode != "validation"
        for card in self.cards:
            event = store.get(card.item_id)
            sug = suggestions.get(card.item_id) if suggestions is not None else card.suggestion
            issue = self._checker.issue(card.item_id) if self.mode == "check" else None
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

    def _instructions(self) -> str:
        if self.mode == "validation":
            n = len(self.learner.pending_validation())
            return (f"<b>First: label the random validation set</b> ({n} left). It measures accuracy "
                    "honestly, so the model's guesses are hidden here. Enter shows the next page.")
        if self.mode == "check":
            notes = "" if self._checker.check is None else "".join(
                f"<br><span class='alw-muted'>{_esc(n)}</span>" for n in self._checker.check.notes)
            return (f"<b>Check my labels</b>: {_esc(self._checker.headline())} Most suspicious first. A class button "
                    "or number key corrects a label, <kbd>c</kbd> keeps it, <kbd>a</kbd> takes the unseen model's "
                    "class; Enter shows the next page." + notes)
        if self.mode == "review":
            return ("<b>Review</b>: the model's suggestions for the rest of the pool, hardest first. "
                    "<kbd>a</kbd> accepts, a class button or number key corrects, Enter shows the next page.")
        return ("<b>Label</b> the images the model is least sure about: click a class or press its key; "
                "Enter submits the batch. Click a card (or Tab to the grid) for keys; <kbd>?</kbd> lists them.")

    def _hardest_first(self) -> List[str]:
        unc = self.learner.uncertainty
        if unc is None:
            return []
        selectable = set(self.learner.selectable_ids())
        ids = self.learner.pool.ids
        order = np.argsort(-unc, kind="stable")
        return [ids[i] for i in order if ids[i] in selectable]

    def _candidates(self, n: int, exclude: set) -> List[str]:
        if n <= 0:
            return []
        if self.mode == "validation":  # skipped ones come back last
            pending = [i for i in self.learner.pending_validation() if i not in exclude]
            return ([i for i in pending if i not in self._skipped] + [i for i in pending if i in self._skipped])[:n]
        if self.mode == "check":
            return [] if self._checker.running else self._checker.candidates(n, exclude, self.k)
        if self.mode == "review":
            taken = set(self.learner.store.labels(split=None))
            start = self._review_page * self.k
            rest = [i for i in self._review_order[start:] if i not in taken and i not in exclude]
            if not rest and self._review_page:  # past the end: start over with what is left
                self._review_page = 0
                rest = [i for i in self._review_order if i not in taken and i not in exclude]
            return rest[:n]
        return self.learner.query(n, exclude=exclude | self._skipped)

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
            if not cards:
                self.board.instructions = self._instructions() + "<br><i>Nothing left to show here.</i>"
            elif self.mode in ("validation", "check"):
                self.board.instructions = self._instructions()

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

    # ================================================================== cycles
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
        self.cancel_button.disabled = False
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
                self.cancel_button.disabled = True
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
        self.progress.value = float(fraction)
        self.progress.bar_style = "danger" if step == "failed" else ("success" if step == "done" else "info")
        self.step.value = _step_label(step, fraction)
        if end:
            self._cycle_ended()
        elif self.cancel_button.disabled:
            self.cancel_button.disabled = False

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
                names = ", ".join(f"<code>{_esc(item)}</code>" for item, _ in last.unreadable[:5])
                more = f" and {n - 5} more" if n > 5 else ""
                self._flash(f"{n} image{'s' if n != 1 else ''} could not be read and {'are' if n != 1 else 'is'} "
                            f"skipped: {names}{more} (see <code>learner.pool.skipped</code>); re-export them as "
                            "PNG or JPEG, or remove them.")
            with self._lock:
                self._update_plots()
                if last is not None and last.error is None:
                    if self.mode == "review":
                        self._review_order = self._hardest_first()
                        self._review_page = 0
                    if self.mode in ("validation", "check"):
                        self._sync_cards()
                        self._push_cards()
                    else:
                        self._fill(keep_labeled=True)
                self._update_status()
                self._update_notes()
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
                self.progress.value = 1.0
                self.progress.bar_style = "danger" if error else "success"
                self.step.value = "label check failed" if error else "labels checked"
            if self.mode == "check":
                self._fill(keep_labeled=False)
                self.board.instructions = self._instructions()
            self._update_status()

    # ================================================================== side panels
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

    def _strategy_changed(self, old: str, new: str) -> None:
        with self._lock:
            if new == self.learner.strategy.name:
                return
            try:
                self.learner.set_strategy(new)
                if self.learner.uncertainty is not None:
                    self.learner.query(1)  # fails now, not at the next batch, if the strategy cannot run
            except Exception as exc:
                self._show_error(f"strategy {new!r} cannot be used: {exc}")
                try:
                    self.learner.set_strategy(old)
                except Exception:
                    pass
                self.strategy.value = old
                return
            self._flash(f"Strategy: {_esc(new)} (scores refresh at the next cycle).")
            if self.mode == "label":
                self._fill(keep_labeled=True)
            self._update_status()

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
                parts.append(f"<span class='alw-representation' title='{_esc(rep.representation_reason)}'>features: "
                             f"{_esc(rep.representation)}</span>")
        else:
            parts.append("no model yet")
            auto = getattr(learner, "auto", None)
            if auto is not None and not auto.pretrained:  # said once, until the first model: offline fallback
                parts.append(f"<span class='alw-backbone'>{_esc(learner.backbone_message)}</span>")
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
            parts.append(f"suggest stopping: {_esc(reason)}")
        if self.forecast is not None or self._forecast_error:
            text = self.forecast.summary() if self.forecast is not None else self._forecast_error
            parts.append(f"<span class='alw-forecast'>{_esc(text)}</span>")
        if self._checker.running:
            parts.append("checking labels…")
        self.status.value = " · ".join(parts)

    def _update_notes(self) -> None:
        """Say which images are left out because they cannot be read (``pool.skipped``)."""
        try:
            skipped = list(self.learner.pool.skipped)
        except Exception:
            skipped = []
        if not skipped:
            self.board.notes = ""
            return
        shown = ", ".join(f"<code>{_esc(item)}</code> ({_esc(reason)})" for item, reason in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        n = len(skipped)
        self.board.notes = (f"<span style='color:#8d6e00'>⚠ {n} image{'s' if n != 1 else ''} could not be read "
                            f"and {'are' if n != 1 else 'is'} left out: {shown}{more} (see "
                            "<code>learner.pool.skipped</code>).</span>")

    def _flash(self, text_html: str) -> None:
        """Show a short message (``text_html`` must already be escaped)."""
        self.message.value = f"<span style='color:#33691e'>{text_html}</span>" if text_html else ""

    def _show_error(self, text: Optional[str]) -> None:
        if text:
            self.error.value = f"⚠ {_esc(text)}"
            self.error_box.layout.display = ""
        else:
            self.error.value = ""
            self.error_box.layout.display = "none"

    def __repr__(self) -> str:
        return f"LabelingWidget(k={self.k}, mode={self.mode!r}, cards={self.grid_ids!r})"
