"""One labeling card: the image, the model's suggestion, a difficulty badge, class buttons.

A card is bound to one pool item for its whole life. When the grid shows another item in
the same place, the widget puts a new card there; a click that was already on its way to
the old card still labels the item the person saw, never the one that replaced it.

Cards only render and forward: a click calls ``on_pick(card, class_name)`` and the widget
decides what it means (teach, correct a suggestion, ...).
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle
import numpy as np
from PIL import Image

__all__ = ["CARD_CSS", "BAND_COLOURS", "CardParts", "ItemCard", "Suggestion", "thumbnail_png", "class_keys"]

#: Background colour of the difficulty badge per uncertainty band.
BAND_COLOURS: Dict[str, str] = {"easy": "#2e7d32", "medium": "#ef6c00", "hard": "#c62828"}

#: Classes beyond which a card shows a dropdown instead of one button per class.
MAX_BUTTONS = 10

CARD_CSS = """
<style>
.alw-pixelated, .alw-pixelated img { image-rendering: crisp-edges; image-rendering: pixelated; }
.alw-card { border: 2px solid #d0d0d0; border-radius: 6px; padding: 4px; background: #fff; }
.alw-card.alw-focus { border-color: #1565c0; box-shadow: 0 0 0 2px #90caf9; }
.alw-card.alw-labeled { background: #eef7ee; border-color: #66bb6a; }
.alw-card.alw-labeled.alw-focus { border-color: #1565c0; }
.alw-card.alw-skipped { opacity: 0.45; }
.alw-card .alw-image { object-fit: contain; margin: 0 auto; display: block; }
.alw-card .widget-button { padding: 0 6px; min-width: 2.2em; }
.alw-badge { color: #fff; border-radius: 4px; padding: 0 5px; font-size: 0.8em; }
.alw-meta { font-size: 0.85em; line-height: 1.3; overflow-wrap: anywhere; }
.alw-keyboard.ipyevents-watched { outline: 2px dashed #90caf9; }
.alw-error { color: #b71c1c; white-space: pre-wrap; }
</style>
"""
"""CSS shared by the cards and the widget (inserted once, in an HTML widget)."""


@dataclass(frozen=True)
class Suggestion:
    """What the model says about one item.

    Attributes
    ----------
    label : str
        The most probable class.
    confidence : float
        Its probability, in ``[0, 1]``.
    band : str
        ``"easy"``, ``"medium"`` or ``"hard"`` (see :func:`alwidget.report.uncertainty_band`).
    uncertainty : float
        Normalised predictive entropy in ``[0, 1]``.
    """

    label: str
    confidence: float
    band: str
    uncertainty: float


class CardParts:
    """Layouts and styles shared by every card of one widget.

    A layout or style is a widget of its own; sharing them makes a card of ten class buttons
    about twenty widgets instead of fifty, so a new batch appears twice as fast.
    """

    def __init__(self) -> None:
        self.button_layout = widgets.Layout(width="auto", height="26px", margin="1px")
        self.button_style = widgets.ButtonStyle()
        self.text_layout = widgets.Layout(margin="0")
        self.text_style = HTMLStyle()
        self.chooser_layout = widgets.Layout(flex_flow="row wrap")
        self.dropdown_layout = widgets.Layout(width="98%")
        self.card_layout = widgets.Layout(min_width="0", overflow="hidden")
        self._image_layouts: Dict[Tuple[int, int], widgets.Layout] = {}

    def image_layout(self, width: int, height: int) -> widgets.Layout:
        """The layout of a ``width`` × ``height`` image (one per size)."""
        key = (int(width), int(height))
        if key not in self._image_layouts:
            self._image_layouts[key] = widgets.Layout(width=f"{width}px", height=f"{height}px", margin="0 auto")
        return self._image_layouts[key]

    def close(self) -> None:
        """Close the shared widgets (after every card using them is closed)."""
        for w in [self.button_layout, self.button_style, self.text_layout, self.text_style, self.chooser_layout,
                  self.dropdown_layout, self.card_layout, *self._image_layouts.values()]:
            w.close()
        self._image_layouts.clear()


def class_keys(classes: Sequence[str]) -> Dict[str, str]:
    """The number key that picks each class: ``{key: class_name}``.

    When every class name is a single digit (``"0"`` .. ``"9"``), the key is the class name
    itself (press ``3`` for the class ``"3"``). Otherwise keys ``1`` .. ``9`` then ``0`` pick
    the first ten classes in order.

    Parameters
    ----------
    classes : sequence of str
        The class names in the learner's order.

    Returns
    -------
    dict of str to str
    """
    names = [str(c) for c in classes]
    if all(len(c) == 1 and c.isdigit() for c in names):
        return {c: c for c in names}
    keys = [str(i) for i in range(1, 10)] + ["0"]
    return {key: name for key, name in zip(keys, names)}


def thumbnail_png(image: np.ndarray, size: int = 112) -> Tuple[bytes, int, int, bool]:
    """Encode an image as a PNG that fits in ``size`` × ``size`` pixels.

    Small images are scaled up by a whole factor with nearest-neighbour sampling, so every
    pixel stays a crisp square; large ones are shrunk to fit with a Lanczos filter.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8`` ``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]``.
    size : int
        The longest side of the result, in pixels.

    Returns
    -------
    png : bytes
    width, height : int
        The size of the encoded image.
    pixelated : bool
        Whether the image was scaled up (display it with ``image-rendering: pixelated``).
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    pil = Image.fromarray(np.ascontiguousarray(arr))
    h, w = arr.shape[:2]
    side = max(h, w)
    pixelated = side < size
    if pixelated:
        factor = max(1, size // side)
        pil = pil.resize((w * factor, h * factor), Image.NEAREST)
    elif side > size:
        scale = size / side
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), pil.width, pil.height, pixelated


def _percent(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


class ItemCard(widgets.VBox):
    """A card for one pool item: image, suggestion, difficulty badge and class buttons.

    Parameters
    ----------
    item_id : str
        The pool item shown (displayed escaped, as text).
    image : numpy.ndarray
        Its pixels (``uint8`` ``[H, W, C]``), or ``None`` when it cannot be read.
    classes : sequence of str
        Class names, one button each (a dropdown beyond :data:`MAX_BUTTONS` classes).
    on_pick : callable
        ``on_pick(card, class_name)``, called when a class is clicked or chosen.
    thumb_size : int
        Longest side of the image on screen, in pixels.
    keys : dict, optional
        ``{key: class}`` from :func:`class_keys`; shown on the buttons as hints.
    parts : CardParts, optional
        Layouts and styles to share with other cards (new ones when not given).

    Attributes
    ----------
    item_id : str
    buttons : dict of str to ipywidgets.Button
        One per class (empty when a dropdown is used).
    dropdown : ipywidgets.Dropdown or None
        The class chooser beyond :data:`MAX_BUTTONS` classes.
    label : str or None
        The label currently shown as given.
    suggestion : Suggestion or None
        The model's suggestion currently shown.
    """

    def __init__(self, item_id: str, image: Optional[np.ndarray], classes: Sequence[str],
                 on_pick: Callable[["ItemCard", str], None], *, thumb_size: int = 112,
                 keys: Optional[Dict[str, str]] = None, parts: Optional[CardParts] = None) -> None:
        self.item_id = str(item_id)
        parts = parts if parts is not None else CardParts()
        self.classes: List[str] = [str(c) for c in classes]
        self._on_pick = on_pick
        self.label: Optional[str] = None
        self.source: Optional[str] = None
        self.suggestion: Optional[Suggestion] = None
        self.show_suggestion_text = True
        self.skipped = False
        self.focused = False
        self._typeahead = ""
        self._typeahead_match: Optional[str] = None

        self.image = self._make_image(image, thumb_size, parts)
        self.title = widgets.HTML(self._title_html(), layout=parts.text_layout, style=parts.text_style)
        self.title.add_class("alw-meta")
        self.info = widgets.HTML("", layout=parts.text_layout, style=parts.text_style)
        self.info.add_class("alw-meta")
        key_of = {name: key for key, name in (keys or {}).items()}
        self.buttons: Dict[str, widgets.Button] = {}
        self.dropdown: Optional[widgets.Dropdown] = None
        if len(self.classes) <= MAX_BUTTONS:
            for name in self.classes:
                key = key_of.get(name)
                text = name if key is None or key == name else f"{key}·{name}"
                tip = f"label as {name}" + (f" (key {key})" if key is not None else "")
                button = widgets.Button(description=text, tooltip=tip, layout=parts.button_layout,
                                        style=parts.button_style)
                button.on_click(lambda _b, name=name: self._pick(name))
                self.buttons[name] = button
            chooser: widgets.Widget = widgets.Box(list(self.buttons.values()), layout=parts.chooser_layout)
        else:
            self.dropdown = widgets.Dropdown(options=list(self.classes), value=None, description="class",
                                             tooltip="choose a class", layout=parts.dropdown_layout,
                                             style={"description_width": "3em"})
            self.dropdown.observe(self._dropdown_changed, names="value")
            chooser = self.dropdown
        self.chooser = chooser
        super().__init__([self.image, self.title, self.info, chooser], layout=parts.card_layout)
        self.add_class("alw-card")
        self._render()

    # ------------------------------------------------------------------ building
    @staticmethod
    def _make_image(image: Optional[np.ndarray], size: int, parts: CardParts) -> widgets.Widget:
        if image is None:
            return widgets.HTML(f"<div style='width:{size}px;height:{size}px;line-height:{size}px;"
                                "text-align:center;color:#888;margin:auto'>unreadable</div>",
                                layout=parts.text_layout, style=parts.text_style)
        png, w, h, pixelated = thumbnail_png(image, size)
        img = widgets.Image(value=png, format="png", width=w, height=h, layout=parts.image_layout(w, h))
        img.add_class("alw-image")
        if pixelated:
            img.add_class("alw-pixelated")
        return img

    def _title_html(self) -> str:
        return f"<span title='{html.escape(self.item_id, quote=True)}'><code>{html.escape(self.item_id)}</code></span>"

    # ------------------------------------------------------------------ events
    def _pick(self, name: str) -> None:
        self._on_pick(self, name)

    def _dropdown_changed(self, change: dict) -> None:
        if change["new"] is not None and change["new"] != self.label:
            self._pick(change["new"])

    # ------------------------------------------------------------------ state shown
    def show(self, *, label: Optional[str] = None, source: Optional[str] = None,
             suggestion: Optional[Suggestion] = None, show_suggestion: bool = True) -> None:
        """Show the item's current label and the model's suggestion.

        Parameters
        ----------
        label : str, optional
            The label given (``None``: not labelled).
        source : str, optional
            Who gave it (``"human"``, ``"suggestion"``, ``"oracle"``, ``"import"``).
        suggestion : Suggestion, optional
            The model's suggestion (``None``: no model yet).
        show_suggestion : bool
            Hide the suggestion (validation labels are given without it, to avoid anchoring).
        """
        changed = (label, source, suggestion, show_suggestion) != (
            self.label, self.source, self.suggestion, self.show_suggestion_text)
        self.label, self.source, self.suggestion = label, source, suggestion
        self.show_suggestion_text = show_suggestion
        if label is not None:
            self.skipped = False
        if changed:
            self._render()

    def set_focus(self, focused: bool) -> None:
        """Highlight the card that the keyboard acts on."""
        if focused != self.focused:
            self.focused = focused
            (self.add_class if focused else self.remove_class)("alw-focus")
            if not focused and self._typeahead:
                self.show_typeahead("")

    def set_skipped(self, skipped: bool) -> None:
        """Dim the card (skipped for this batch)."""
        if skipped != self.skipped:
            self.skipped = skipped
            self._render()

    def show_typeahead(self, text: str, match: Optional[str] = None) -> None:
        """Show what is being typed to choose a class (``text`` empty: nothing)."""
        self._typeahead = text
        self._typeahead_match = match
        self._render()

    def _render(self) -> None:
        parts = []
        if self.label is not None:
            src = "" if self.source in (None, "human") else f" <i>({html.escape(self.source)})</i>"
            parts.append(f"<b>✔ {html.escape(self.label)}</b>{src}")
        elif self.skipped:
            parts.append("<i>skipped</i>")
        s = self.suggestion
        if s is not None and self.show_suggestion_text:
            colour = BAND_COLOURS.get(s.band, "#616161")
            parts.append(f"model: <b>{html.escape(s.label)}</b> {_percent(s.confidence)} "
                         f"<span class='alw-badge' style='background:{colour}' "
                         f"title='uncertainty {s.uncertainty:.2f}'>{html.escape(s.band)}</span>")
        elif self.show_suggestion_text:
            parts.append("<span style='color:#888'>no model yet</span>")
        if self._typeahead:
            match = self._typeahead_match
            hint = f" → <b>{html.escape(match)}</b>" if match else " <i>(no match)</i>"
            parts.append(f"type: <code>{html.escape(self._typeahead)}</code>{hint}")
        self.info.value = "<br>".join(parts)
        (self.add_class if self.label is not None else self.remove_class)("alw-labeled")
        (self.add_class if self.skipped else self.remove_class)("alw-skipped")
        for name, button in self.buttons.items():
            style = "success" if name == self.label else ""
            if button.button_style != style:
                button.button_style = style
        if self.dropdown is not None and self.dropdown.value != self.label:
            self.dropdown.unobserve(self._dropdown_changed, names="value")
            self.dropdown.value = self.label
            self.dropdown.observe(self._dropdown_changed, names="value")

    def close(self) -> None:
        """Close the card and all its child widgets."""
        for child in [self.image, self.title, self.info, self.chooser, *self.buttons.values()]:
            child.close()
        super().close()
