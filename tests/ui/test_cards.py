"""One card: crisp thumbnails, escaped text, class buttons and the dropdown beyond ten classes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from alwidget.ui.cards import ItemCard, Suggestion, class_keys, thumbnail_png

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


def test_card_escapes_item_id_and_class_names_and_forwards_clicks():
    picked = []
    classes = [EVIL, "dog"]
    card = ItemCard(f"folder/{EVIL}.png", np.zeros((8, 8, 1), np.uint8), classes,
                    lambda c, name: picked.append((c.item_id, name)))
    assert "<img" not in card.title.value and "&lt;img" in card.title.value
    # button descriptions are plain text: the name is there as typed, never parsed as HTML
    assert card.buttons[EVIL].description.endswith(EVIL)
    card.buttons[EVIL].click()
    assert picked == [(f"folder/{EVIL}.png", EVIL)]
    card.show(label=EVIL, source="human", suggestion=Suggestion(EVIL, 0.8, "hard", 0.7))
    assert "<img" not in card.info.value and card.info.value.count("&lt;img") == 2
    assert card.buttons[EVIL].button_style == "success" and card.buttons["dog"].button_style == ""
    assert "alw-labeled" in card._dom_classes
    card.close()


def test_card_shows_suggestion_confidence_and_band():
    card = ItemCard("a", np.zeros((8, 8, 3), np.uint8), ["x", "y"], lambda c, n: None)
    card.show(suggestion=Suggestion("y", 0.734, "medium", 0.3))
    assert "y" in card.info.value and "73%" in card.info.value and "medium" in card.info.value
    card.show(suggestion=Suggestion("y", 0.734, "medium", 0.3), show_suggestion=False)
    assert "73%" not in card.info.value
    assert "alw-pixelated" in card.image._dom_classes
    card.close()


def test_many_classes_use_a_dropdown():
    picked = []
    classes = [f"class {i}" for i in range(15)]
    card = ItemCard("a", None, classes, lambda c, n: picked.append(n))
    assert card.buttons == {} and card.dropdown is not None
    card.dropdown.value = "class 12"
    assert picked == ["class 12"]
    card.show(label="class 3")
    assert card.dropdown.value == "class 3" and picked == ["class 12"]  # showing is not picking
    assert "unreadable" in card.image.value
    card.close()
