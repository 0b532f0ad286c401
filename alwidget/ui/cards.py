"""One labeling card's state: the item, its image, the label given, the model's suggestion.

A :class:`Card` is plain Python (no widget model): the board (:mod:`alwidget.ui.board`)
draws every card of the grid from :meth:`Card.state` in one widget. A card is bound to one
pool item for its whole life; the page names the item in every message, so a click that was
on its way while the grid changed still labels the item the person saw, never the one that
replaced it.

Cards only hold and forward: :meth:`Card.pick` calls ``on_pick(card, class_name)`` and the
widget decides what it means (teach, correct a suggestion, ...).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

__all__ = ["BAND_COLOURS", "MAX_BUTTONS", "Card", "Suggestion", "thumbnail_png", "class_keys"]

#: Background colour of the difficulty badge per uncertainty band.
BAND_COLOURS: Dict[str, str] = {"easy": "#2e7d32", "medium": "#ef6c00", "hard": "#c62828"}

#: Classes beyond which a card shows a dropdown instead of one button per class.
MAX_BUTTONS = 10

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




def _finite(x: float) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


class Card:
    """The state of one card of the grid, bound to one pool item for its whole life.

    Parameters
    ----------
    item_id : str
        The pool item shown.
    image : numpy.ndarray or None
        Its pixels (``uint8`` ``[H, W]`` or ``[H, W, C]``), or ``None`` when it cannot be read.
    classes : sequence of str
        The class names (a pick must name one of them).
    on_pick : callable
        ``on_pick(card, class_name)``, called by :meth:`pick`.
    thumb_size : int
        Longest side of the encoded thumbnail, in pixels.

    Attributes
    ----------
    item_id : str
    png : bytes or None
        The thumbnail (:func:`thumbnail_png`), ``None`` when the image cannot be read.
    width, height : int
        The thumbnail's size in pixels (``thumb_size`` square when unreadable).
    pixelated : bool
        The thumbnail was scaled up (drawn with square pixels).
    label, source : str or None
        The label shown as given and who gave it (``"human"``, ``"suggestion"``, ...).
    suggestion : Suggestion or None
        The model's suggestion shown.
    show_suggestion_text : bool
        Whether the suggestion is shown (hidden for validation labels, to avoid anchoring).
    skipped, focused : bool
        Skipped for this batch; the keyboard acts on it.
    typeahead : str
        Text typed after ``/`` (kernel-side key presses), ``""`` when not typing.
    typeahead_match : str or None
        The class that text names so far.
    check : dict or None
        In "Check my labels": what a model that never saw this label says
        (``{"suggestion", "probability", "suggestion_probability", "score", "split", "flagged"}``,
        see :class:`alwidget.trust.LabelIssue`).
    """

    def __init__(self, item_id: str, image: Optional[np.ndarray], classes: Sequence[str],
                 on_pick: Callable[["Card", str], None], *, thumb_size: int = 112) -> None:
        self.item_id = str(item_id)
        self.classes: List[str] = [str(c) for c in classes]
        self._on_pick = on_pick
        self.label: Optional[str] = None
        self.source: Optional[str] = None
        self.suggestion: Optional[Suggestion] = None
        self.show_suggestion_text = True
        self.skipped = False
        self.focused = False
        self.typeahead = ""
        self.typeahead_match: Optional[str] = None
        self.check: Optional[Dict[str, object]] = None
        if image is None:
            self.png: Optional[bytes] = None
            self.width = self.height = int(thumb_size)
            self.pixelated = False
        else:
            self.png, self.width, self.height, self.pixelated = thumbnail_png(image, thumb_size)

    def pick(self, label: str) -> None:
        """Label this card with ``label``, as a click on its class button in the page does."""
        if str(label) not in self.classes:
            raise ValueError(f"{label!r} is not one of the classes {self.classes}")
        self._on_pick(self, str(label))

    def show(self, *, label: Optional[str] = None, source: Optional[str] = None,
             suggestion: Optional[Suggestion] = None, show_suggestion: bool = True) -> None:
        """Set the label shown as given (``None``: not labelled), its source, and the suggestion."""
        self.label, self.source, self.suggestion = label, source, suggestion
        self.show_suggestion_text = bool(show_suggestion)
        if label is not None:
            self.skipped = False

    def show_typeahead(self, text: str, match: Optional[str] = None) -> None:
        """Show what is being typed to choose a class (``text`` empty: nothing)."""
        self.typeahead, self.typeahead_match = str(text), match

    @property
    def info(self) -> str:
        """The card's text as the page shows it (label, skipped, suggestion, typing), one line each."""
        lines = []
        if self.label is not None:
            src = "" if self.source in (None, "human") else f" ({self.source})"
            lines.append(f"✔ {self.label}{src}")
        elif self.skipped:
            lines.append("skipped")
        s = self.suggestion
        if self.show_suggestion_text:
            if s is not None:
                conf = _finite(s.confidence)
                pct = "–" if conf is None else f"{100 * conf:.0f}%"
                lines.append(f"model: {s.label} {pct} {s.band}")
            else:
                lines.append("no model yet")
        if self.check is not None:
            c = self.check
            where = " · validation" if c.get("split") == "validation" else ""
            verdict = "checked" if self.source == "review" else ("likely wrong" if c.get("flagged") else "unsure")
            lines.append(f"unseen model: {c['suggestion']} {100 * float(c['suggestion_probability']):.0f}% · "
                         f"{verdict}{where}")
        if self.typeahead:
            lines.append(f"type: {self.typeahead}" + (f" → {self.typeahead_match}" if self.typeahead_match
                                                       else " (no match)"))
        return "\n".join(lines)

    def state(self) -> Dict[str, object]:
        """What the page draws for this card (JSON-ready; the image travels separately).

        Keys: ``id``, ``label``, ``source``, ``skipped``, ``show_suggestion``, ``suggestion``
        (``{"label", "confidence", "band", "uncertainty"}`` or ``None``), ``typeahead``,
        ``typeahead_match``, ``width``, ``height`` (pixels), ``pixelated``, ``unreadable``,
        ``check`` (see the class attributes, or ``None``).
        """
        s = self.suggestion
        return {
            "id": self.item_id, "label": self.label, "source": self.source, "skipped": bool(self.skipped),
            "show_suggestion": bool(self.show_suggestion_text),
            "suggestion": None if s is None else {"label": s.label, "confidence": _finite(s.confidence),
                                                  "band": s.band, "uncertainty": _finite(s.uncertainty)},
            "typeahead": self.typeahead, "typeahead_match": self.typeahead_match,
            "width": int(self.width), "height": int(self.height), "pixelated": bool(self.pixelated),
            "unreadable": self.png is None,
            "check": None if self.check is None else dict(self.check),
        }

    def __repr__(self) -> str:
        return f"Card({self.item_id!r}, label={self.label!r})"
