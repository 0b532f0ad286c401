"""One card: crisp thumbnails, its state for the page, and what it shows as text."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from alwidget.ui.cards import Card, Suggestion, class_keys, thumbnail_png

EVIL = "<img src=x onerror=alert(1)>"


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_small_image_is_scaled_up_by_a_whole_factor_with_square_pixels():
    img = (np.arange(64, dtype=np.uint8).reshape(8, 8, 1) * 4)
    png, w, h, pixelated = thumbnail_png(img, size=100)
    assert (w, h) == (96, 96) and pixelated
    out = _decode(png)
    assert out.shape == (96, 96)
    # nearest-neighbour: every 12×12 block is one source pixel
    np.testing.assert_array_equal(out[::12, ::12], img[:, :, 0])
    assert np.all(out[:12, :12] == img[0, 0, 0])


def test_large_image_is_fitted_and_keeps_its_aspect_ratio():
    img = np.zeros((300, 600, 3), np.uint8)
    img[:, 300:] = 255
    png, w, h, pixelated = thumbnail_png(img, size=120)
    assert (w, h) == (120, 60) and not pixelated
    assert _decode(png).shape == (60, 120, 3)


def test_class_keys_use_digit_names_when_classes_are_digits():
    assert class_keys([str(d) for d in range(10)])["3"] == "3"
    keys = class_keys(["cat", "dog", "cow"])
    assert keys == {"1": "cat", "2": "dog", "3": "cow"}
    assert class_keys([f"c{i}" for i in range(12)])["0"] == "c9"


def test_card_state_carries_names_as_data_and_forwards_picks():
    picked = []
    classes = [EVIL, "dog"]
    card = Card(f"folder/{EVIL}.png", np.zeros((8, 8, 1), np.uint8), classes,
                lambda c, name: picked.append((c.item_id, name)))
    card.pick(EVIL)
    assert picked == [(f"folder/{EVIL}.png", EVIL)]
    with pytest.raises(ValueError, match="not one of the classes"):
        card.pick("cat")
    card.show(label=EVIL, source="human", suggestion=Suggestion(EVIL, 0.8, "hard", 0.7))
    state = card.state()
    # names travel as they are (board.js sets them as text, never as HTML: tests/browser checks)
    assert state["id"] == f"folder/{EVIL}.png" and state["label"] == EVIL
    assert state["suggestion"] == {"label": EVIL, "confidence": 0.8, "band": "hard", "uncertainty": 0.7}
    assert json.loads(json.dumps(state)) == state  # JSON-ready
    assert card.info.splitlines() == [f"✔ {EVIL}", f"model: {EVIL} 80% hard"]


def test_card_shows_suggestion_confidence_and_band():
    card = Card("a", np.zeros((8, 8, 3), np.uint8), ["x", "y"], lambda c, n: None)
    card.show(suggestion=Suggestion("y", 0.734, "medium", 0.3))
    assert card.info == "model: y 73% medium"
    card.show(suggestion=Suggestion("y", float("nan"), "medium", 0.3))
    assert card.info == "model: y –% medium".replace("–%", "–") and card.state()["suggestion"]["confidence"] is None
    card.show(suggestion=Suggestion("y", 0.734, "medium", 0.3), show_suggestion=False)
    assert card.info == "" and not card.state()["show_suggestion"]
    assert card.state()["pixelated"] and (card.width, card.height) == (112, 112)
    assert card.png[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreadable_image_is_a_card_without_picture():
    card = Card("a", None, [f"class {i}" for i in range(15)], lambda c, n: None, thumb_size=90)
    state = card.state()
    assert state["unreadable"] and card.png is None and (state["width"], state["height"]) == (90, 90)
    card.skipped = True
    assert card.info == "skipped\nno model yet"
    card.show(label="class 3", source="oracle")
    assert not card.skipped and card.info.startswith("✔ class 3 (oracle)")
