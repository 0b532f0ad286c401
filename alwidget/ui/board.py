"""The whole labeling widget's page as one anywidget: toolbar, progress and status, errors and
messages, the card grid with its batch bar, key help and recent labels, and the export row.

:class:`Board` is a single widget model whatever the number of cards. Its JavaScript
(``board.js``) and CSS (``board.css``) ship inside the package and travel inline in the
widget's state (``_esm``, ``_css``): no URL, no CDN, no build step and no notebook or lab
extension of its own, which is what JupyterLab, Notebook 7, Voila, VS Code and Colab need
to render it. Images travel as binary buffers (PNG bytes), not as base64 text.

The board renders and forwards; it decides nothing. The page sends messages (see
:data:`PAGE_MESSAGES`) that :class:`~alwidget.ui.widget.LabelingWidget` handles with the
learner, and Python answers by setting the board's traits (``cards``, ``images``,
``recent``, ...) and, for a pick, with an :meth:`Board.ack` message that confirms or
reverts what the page already shows.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Dict, List, Sequence

import anywidget
import traitlets

__all__ = ["Board", "PAGE_MESSAGES", "esm_source", "css_source"]

#: What the page sends (``model.send``) and the keys each message carries.
PAGE_MESSAGES: Dict[str, str] = {
    "pick": "a class was clicked or its number key pressed: id, label, token, focus (the card the page moved to)",
    "pick_text": "a class was typed (type-ahead): id, text, token, focus",
    "accept": "accept the model's suggestion: id, label (as shown; null if none), token, focus",
    "skip": "skip a card for this batch: id, focus",
    "confirm": "Check my labels: keep a card's label as it is (a checked label): id, token, focus",
    "focus": "the keyboard focus moved to another card: index, id",
    "key": "a key the page does not handle itself (Enter, Backspace, r, o, Shift+A): key, shiftKey, index, id",
    "action": "a button: name (submit, accept_all, undo, oracle, retrain, cancel, dismiss, export), "
              "what (export: csv, json or model), index, id",
    "map_select": "the rows (pool.ids positions) of the region dragged around on the map: rows",
    "map_hover": "the pointer is over a point of the map: row",
    "set": "a toolbar field changed: name (mode, strategy, k, target, auto_retrain, export_dir), value; "
           "at the ack the page shows Python's value (the old one if refused)",
    "relabel": "change a label in the recent list: seq (the label event shown), id, label",
    "undo": "undo a label in the recent list: seq, id",
}


def _read(name: str) -> str:
    return files("alwidget.ui").joinpath(name).read_text(encoding="utf-8")


def esm_source() -> str:
    """The board's ES module, as shipped in the package (``alwidget/ui/board.js``)."""
    return _read("board.js")


def css_source() -> str:
    """The board's stylesheet, as shipped in the package (``alwidget/ui/board.css``)."""
    return _read("board.css")


class Board(anywidget.AnyWidget):
    """One widget model for the whole labeling board (see the module docstring).

    Traits (all synced to the page)
    -------------------------------
    classes : list of str
        Class names, in the learner's order (one button each up to ``max_buttons``, a
        type-ahead field beyond).
    key_map : dict of str to str
        ``{key: class}``: the number keys (:func:`~alwidget.ui.cards.class_keys`).
    columns : int
        Cards per row.
    thumb_size : int
        Longest side of a card's image, in CSS pixels.
    max_buttons : int
        Classes beyond which a card shows a type-ahead field instead of buttons.
    mode : str
        ``"validation"``, ``"label"`` or ``"review"``.
    simulate : bool
        Show the *oracle* button.
    cards : list of dict
        One per card, in order: :meth:`alwidget.ui.cards.Card.state`.
    images : dict of str to bytes
        ``{item id: PNG}`` for the cards shown (sent as binary buffers).
    focus : list of int
        ``[index, serial]``: the card Python puts the keyboard focus on; the page applies it
        when ``serial`` changes (a new batch, a key pressed from code), and otherwise moves
        the focus itself.
    instructions, notes : str
        HTML written by Python with every dynamic part escaped.
    recent : list of dict
        The recent-labels list: ``{"seq", "id", "label", "source", "split"}`` per event.
    help : list of [str, str]
        ``[keys, what they do]`` rows of the key help.
    help_open : bool
        The key help is shown (the page toggles it too).
    screens : list of [str, str, str]
        ``[mode, title, tooltip]`` per screen, in the toolbar's order.
    strategies : list of str
        The strategies the toolbar offers; ``strategy`` is the one in use.
    k : int
        Cards per batch.
    target : float
        Validation accuracy to forecast the labels for, in ``(0, 1]`` (the page shows percent).
    auto_retrain : bool
        Start a background cycle after each submitted batch.
    running : bool
        A cycle is running (the *Cancel* button is enabled).
    progress : float
        The progress bar, in ``[0, 1]``; ``progress_style`` is ``"info"``, ``"success"`` or ``"danger"``.
    step : str
        The progress bar's label (plain text).
    status, message : str
        The status line and the last short message: HTML written by Python, every dynamic part escaped.
    error : str
        The error line (plain text; empty: hidden).
    export_dir : str
        The folder the export buttons write to.
    map_xy, map_label, map_pred, map_unc, map_flags : bytes
        The *Map* screen's data, as binary buffers: float32 ``[N, 2]`` coordinates, int16 ``[N]``
        label and prediction class indices (-1: none), float32 ``[N]`` uncertainty, uint8 ``[N]``
        flags (1 validation, 2 in the grid); see :mod:`alwidget.ui.pool_map`.
    map_state, map_selection, map_thumbs, map_hover : dict
        The map's status, what the selected region holds, its sample's thumbnails
        (``{id: PNG}``) and the item under the pointer (with its ``png``).
    """

    _esm = esm_source()
    _css = css_source()

    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    key_map = traitlets.Dict().tag(sync=True)
    columns = traitlets.Int(4).tag(sync=True)
    thumb_size = traitlets.Int(112).tag(sync=True)
    max_buttons = traitlets.Int(10).tag(sync=True)
    mode = traitlets.Unicode("label").tag(sync=True)
    simulate = traitlets.Bool(False).tag(sync=True)
    cards = traitlets.List(traitlets.Dict()).tag(sync=True)
    images = traitlets.Dict().tag(sync=True)
    focus = traitlets.List(traitlets.Int(), default_value=[0, 0]).tag(sync=True)
    instructions = traitlets.Unicode("").tag(sync=True)
    notes = traitlets.Unicode("").tag(sync=True)
    recent = traitlets.List(traitlets.Dict()).tag(sync=True)
    help = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    help_open = traitlets.Bool(False).tag(sync=True)
    screens = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    strategies = traitlets.List(traitlets.Unicode()).tag(sync=True)
    strategy = traitlets.Unicode("").tag(sync=True)
    k = traitlets.Int(12).tag(sync=True)
    target = traitlets.Float(0.95).tag(sync=True)
    auto_retrain = traitlets.Bool(True).tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    progress_style = traitlets.Unicode("info").tag(sync=True)
    step = traitlets.Unicode("idle").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    export_dir = traitlets.Unicode("").tag(sync=True)
    map_xy = traitlets.Bytes(b"").tag(sync=True)
    map_label = traitlets.Bytes(b"").tag(sync=True)
    map_pred = traitlets.Bytes(b"").tag(sync=True)
    map_unc = traitlets.Bytes(b"").tag(sync=True)
    map_flags = traitlets.Bytes(b"").tag(sync=True)
    map_state = traitlets.Dict().tag(sync=True)
    map_selection = traitlets.Dict().tag(sync=True)
    map_thumbs = traitlets.Dict().tag(sync=True)
    map_hover = traitlets.Dict().tag(sync=True)

    def __init__(self, classes: Sequence[str], keys: Dict[str, str], **kwargs: Any) -> None:
        super().__init__(classes=[str(c) for c in classes], key_map=dict(keys), **kwargs)

    def ack(self, token: Any, ok: bool = True, message: str = "") -> None:
        """Confirm (``ok``) or refuse a pick the page already shows; a refused one is reverted there.

        Parameters
        ----------
        token : int or None
            The ``token`` of the page's message (nothing is sent without one).
        ok : bool
            The label was saved.
        message : str
            Why not, shown on the card (plain text).
        """
        if token is None:
            return
        self.send({"kind": "ack", "token": token, "ok": bool(ok), "message": str(message)})

    def move_focus(self, index: int) -> None:
        """Put the page's keyboard focus on card ``index`` (a new serial, so the page applies it)."""
        self.focus = [int(index), int(self.focus[1]) + 1]

    def show(self, cards: List[Dict[str, Any]], images: Dict[str, bytes]) -> None:
        """Replace the cards and their images in one message to the page."""
        with self.hold_sync():
            self.images = images
            self.cards = cards
