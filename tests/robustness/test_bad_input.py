"""The bad-input corpus, end to end: ImagePool → ActiveLearner → a cycle → the widget.

``tests/data`` checks each bad input at the data level. Here every case goes as far through
the whole session as it can, and must either

* **work**: the pool is built, the learner trains a cycle (started with the widget's *Retrain
  now* button), every card renders, every label clicked is in the store; or
* **be refused with a clear message** that names the item and says what to do, raised as an
  ordinary ``ValueError`` / ``TypeError`` at the step that meets it (the session goes on); or
* **be skipped with a reason** (an unreadable file among good ones): the rest works, the file
  is listed in ``pool.skipped`` with its reason, and it is never queried.

Whatever happens, nothing is rendered unescaped: every ``HTML`` child of the widget is checked
for raw ``<img onerror=...>`` / ``<script>`` / ``<svg onload=...>`` markup.

docs/bad_input.md lists each case and what these tests assert about it.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest
from PIL import Image

from alwidget import ActiveLearner, Backbone, ImagePool, LabelStore
from alwidget.data.store import LabelStoreError

from .conftest import EVIL, TALLY, board_text, garbage_bytes, html_children, png_bytes, save_digit, truncated_png_bytes

pytestmark = pytest.mark.timeout(180)

CLASSES = ["0", "1", "2"]
PER_CLASS = 8
RAW_MARKUP = re.compile(r"<(img|script|svg)\b", re.I)


# ----------------------------------------------------------------------------- building blocks


def digit_ids(digits, cls: str, n: int = PER_CLASS) -> List[str]:
    return [i for i in digits.ids if digits.truth[i] == cls][:n]


def make_folder(root: Path, digits, class_names: Optional[Dict[str, str]] = None,
                file_name: Callable[[str, int], str] = lambda cls, i: f"{cls}-{i:02d}.png") -> Path:
    """A folder of ``0``/``1``/``2`` digits, one sub-folder per class (renamed by ``class_names``)."""
    names = class_names or {c: c for c in CLASSES}
    for cls in CLASSES:
        for i, item in enumerate(digit_ids(digits, cls)):
            save_digit(digits, item, root / names[cls] / file_name(cls, i))
    return root


def assert_escaped(w) -> List[str]:
    """No HTML child of the widget holds raw markup from a name; returns the markup checked."""
    htmls = html_children(w)
    raw = [h for h in htmls if RAW_MARKUP.search(h)]
    assert not raw, f"unescaped markup rendered: {raw[:3]}"
    for fig in (w.plots,):
        assert not RAW_MARKUP.search(json.dumps(fig.to_plotly_json(), default=str))
    return htmls


def end_to_end(pool: ImagePool, tiny_learner, make_widget, tmp_path: Path) -> Dict[str, Any]:
    """Run the whole session over ``pool``: every item on one screen, each labelled by a click.

    No validation set (``validation_size=0``) and ``k = len(pool)``, so every item of the pool
    is a card, whatever the cold start picks. Returns what happened for the case's own checks.
    """
    learner = tiny_learner(pool, validation_size=0, validation_from_truth=False)
    w = make_widget(learner, k=len(pool))
    assert w.mode == "label" and sorted(w.grid_ids) == sorted(pool.ids)
    truth = pool.truth
    given = {}
    for card in list(w.cards):  # a person clicks the right class on every card, readable or not
        card.pick(truth[card.item_id])
        given[card.item_id] = truth[card.item_id]
    assert w.error == "", w.error
    w.retrain()
    assert w.wait(120)
    rep = learner.history[-1]
    assert rep.ok, rep.error
    assert w.error == "" and w.board.step == "cycle done", w.error
    assert "cycle 1" in w.status and f"<b>{len(given)}</b> labels" in w.status
    assert learner.store.labels(split=None) == given  # every label clicked arrived, once
    assert len(learner.store.history()) == len(given)
    htmls = assert_escaped(w)
    cards = {c.item_id: c for c in w.cards}
    return dict(learner=learner, widget=w, report=rep, cards=cards, htmls=htmls, given=given)


@dataclass
class Outcome:
    """What a case is expected to do; collected for docs/bad_input.md."""

    kind: str  # "works", "skipped", "refused"
    where: str = ""  # the step that meets it
    message: List[str] = field(default_factory=list)  # regexes the message must match


def tally(outcome: str) -> None:
    TALLY["bad_input_handled"] += 1
    TALLY[f"bad_input_{outcome}"] += 1  # works, skipped or refused


def tried() -> None:
    TALLY["bad_input_tried"] += 1


# ----------------------------------------------------------------------------- image files


def _write_truncated(path: Path, digits) -> None:
    path.write_bytes(truncated_png_bytes())


def _write_zero(path: Path, digits) -> None:
    path.write_bytes(b"")


def _write_text(path: Path, digits) -> None:
    path.write_text("these are my notes, not a picture\n")


def _write_16bit(path: Path, digits) -> None:
    save_digit(digits, digit_ids(digits, "1", 9)[-1], path, mode="I;16")


def _write_cmyk(path: Path, digits) -> None:
    save_digit(digits, digit_ids(digits, "1", 9)[-1], path, mode="CMYK", quality=95)


def _write_rgba(path: Path, digits) -> None:
    grey = np.asarray(digits.image(digit_ids(digits, "1", 9)[-1]))[:, :, 0]
    rgba = np.dstack([grey, grey, grey, np.where(grey > 0, 255, 0).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(path)


def _write_palette(path: Path, digits) -> None:
    save_digit(digits, digit_ids(digits, "1", 9)[-1], path, mode="P", transparency=0)


def _write_1x1(path: Path, digits) -> None:
    Image.fromarray(np.array([[200]], np.uint8), "L").save(path)


def _write_huge(path: Path, digits) -> None:
    path.write_bytes(png_bytes(10_000, 10_000))


FILE_CASES = {
    # name: (file name, writer, outcome)
    "truncated PNG": ("truncated.png", _write_truncated,
                      Outcome("skipped", "decoding (card, then the cycle)", [r"truncated or corrupt image data"])),
    "zero-byte file": ("empty.png", _write_zero, Outcome("skipped", "ImagePool.from_folder", [r"empty file \(0 bytes\)"])),
    "text file named .jpg": ("notes.jpg", _write_text,
                             Outcome("skipped", "ImagePool.from_folder", [r"not an image file Pillow can read"])),
    "16-bit PNG": ("sixteen.png", _write_16bit, Outcome("works")),
    "CMYK JPEG": ("cmyk.jpg", _write_cmyk, Outcome("works")),
    "RGBA PNG": ("rgba.png", _write_rgba, Outcome("works")),
    "palette PNG with transparency": ("palette.png", _write_palette, Outcome("works")),
    "1x1 image": ("tiny.png", _write_1x1, Outcome("works")),
    "10,000 x 10,000 image": ("huge.png", _write_huge,
                              Outcome("skipped", "ImagePool.from_folder", [r"10000 x 10000 px, larger than the 8192"])),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_image_file_among_good_ones(case, tmp_path, digits120, tiny_learner, make_widget):
    tried()
    name, write, outcome = FILE_CASES[case]
    root = make_folder(tmp_path / "images", digits120)
    write(root / "1" / name, digits120)
    item = f"1/{name}"
    pool = ImagePool.from_folder(root)
    if outcome.where == "ImagePool.from_folder":  # refused from its header: left out, with a reason
        assert item not in pool.ids and len(pool) == 3 * PER_CLASS
        reason = dict(pool.skipped)[item]
        for pattern in outcome.message:
            assert re.search(pattern, reason), reason
        assert item in repr(pool.skipped) and "skipped" in repr(pool)
    else:
        assert item in pool.ids and len(pool) == 3 * PER_CLASS + 1
    run = end_to_end(pool, tiny_learner, make_widget, tmp_path)
    learner, cards, w = run["learner"], run["cards"], run["widget"]
    if outcome.kind == "works":
        image = pool.image(item)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (1, 3)
        if case != "1x1 image":  # the digit is still a digit: dark background, bright strokes
            assert image.max() >= 200 and image.min() <= 60 or case == "RGBA PNG"
        assert cards[item].png is not None and item in w.board.images  # rendered as a picture
        assert run["report"].n_labels == len(pool)  # trained on, like the others
    elif outcome.where.startswith("decoding"):
        assert cards[item].png is None and item not in w.board.images  # the card says so instead of crashing
        assert next(c for c in w.board.cards if c["id"] == item)["unreadable"]
        reason = dict(pool.skipped)[item]
        assert any(re.search(p, reason) for p in outcome.message), reason
        assert run["report"].n_labels == len(pool) - 1  # not trained on...
        assert learner.store.get(item).label == "1"  # ...but the label given is kept
        assert item not in learner.query(len(pool))
    tally(outcome.kind)


def test_the_widget_says_which_files_were_left_out(tmp_path, digits120, tiny_learner, make_widget):
    root = make_folder(tmp_path / "images", digits120)
    _write_zero(root / "1" / "empty.png", digits120)
    _write_text(root / "2" / "notes.jpg", digits120)
    pool = ImagePool.from_folder(root)
    w = make_widget(tiny_learner(pool), k=4)
    shown = " ".join(html_children(w))
    assert "1/empty.png" in shown and "2/notes.jpg" in shown
    assert all(re.search(r"re-export|remove", reason) for _, reason in pool.skipped)


# ----------------------------------------------------------------------------- names


def _names_html_folder(root: Path, digits) -> ImagePool:
    classes = {"0": EVIL, "1": "<svg onload=alert(2)>", "2": "\"quoted' & <b>bold"}
    make_folder(root, digits, classes, file_name=lambda cls, i: f"{EVIL}-{i:02d}.png")
    return ImagePool.from_folder(root)


def _names_html_arrays(root: Path, digits) -> ImagePool:
    ids = [i for c in CLASSES for i in digit_ids(digits, c)]
    images = np.stack([digits.image(i) for i in ids])
    classes = ["</b><script>alert(4)</script>", "a & b", EVIL]
    return ImagePool.from_arrays(images, ids=[f"<script>alert(3)</script>/{i}" for i in ids],
                                 truth=[int(digits.truth[i]) for i in ids], classes=classes)


def _names_non_ascii(root: Path, digits) -> ImagePool:
    classes = {"0": "café", "1": "猫", "2": "Ελληνικά 🐱"}
    make_folder(root, digits, classes, file_name=lambda cls, i: f"naïve-ü-日本-{i:02d}.png")
    return ImagePool.from_folder(root)


NAME_CASES = {
    "class and file names with HTML and script (folder)": _names_html_folder,
    "class names and ids with HTML and script (arrays)": _names_html_arrays,
    "non-ASCII class and file names": _names_non_ascii,
}


@pytest.mark.parametrize("case", list(NAME_CASES))
def test_names_render_escaped_and_round_trip(case, tmp_path, digits120, tiny_learner, make_widget):
    tried()
    pool = NAME_CASES[case](tmp_path / "images", digits120)
    run = end_to_end(pool, tiny_learner, make_widget, tmp_path)
    w, learner = run["widget"], run["learner"]
    joined = "\n".join(run["htmls"])
    names = list(pool.classes) + list(pool.ids)
    for name in names:  # every name shown is shown escaped (or as plain text, when it has no markup)
        if "<" in name:
            assert name not in joined
    shown = board_text(w)  # the board shows names as text (board.js sets textContent: tests/browser)
    assert set(pool.classes) <= set(shown) and {c.item_id for c in w.cards} <= set(shown)
    # the names survive the store and the exports
    csv_path, json_path = w.export("csv", tmp_path), w.export("json", tmp_path)
    assert csv_path and json_path, w.error
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = {r["item_id"]: r["label"] for r in csv.DictReader(fh)}
    assert rows == run["given"]
    assert {r["item_id"]: r["label"] for r in json.loads(json_path.read_text("utf-8"))} == run["given"]
    learner.close()  # reopening the store resumes with the same names
    again = tiny_learner(pool, validation_size=0, validation_from_truth=False, store=learner.store.path)
    assert again.labels == run["given"]
    tally("works")


# ----------------------------------------------------------------------------- arrays and arguments


def _arrays(n=6):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)


def _nan_pixels():
    images = _arrays().astype(np.float32) / 255
    images[3, 2, 2] = np.nan
    return ImagePool.from_arrays(images, ids=[f"scan-{i}" for i in range(6)], truth=list("ababab"))


def _object_dtype():
    images = np.empty(6, dtype=object)
    for i in range(6):
        images[i] = np.zeros((8, 8), np.uint8)
    return ImagePool.from_arrays(images, truth=list("ababab"))


def _complex_dtype():
    return ImagePool.from_arrays(_arrays().astype(np.complex64), truth=list("ababab"))


def _normalised_floats():
    images = (_arrays().astype(np.float32) - 128) / 40  # mean/std normalised: negative values
    return ImagePool.from_arrays(images, ids=[f"scan-{i}" for i in range(6)], truth=list("ababab"))


def _image_list_wrong_dtype():
    images = [np.zeros((8, 8), np.uint8)] * 5 + [np.full((8, 8), -3, np.int64)]
    return ImagePool.from_arrays(images, ids=[f"scan-{i}" for i in range(6)], truth=list("ababab"))


def _ids_length():
    return ImagePool.from_arrays(_arrays(), ids=["a", "b", "c"], truth=list("ababab"))


def _truth_length():
    return ImagePool.from_arrays(_arrays(), truth=list("abababa"))


def _duplicate_ids():
    return ImagePool.from_arrays(_arrays(), ids=["a", "b", "c", "b", "e", "f"], truth=list("ababab"))


def _duplicate_classes():
    return ImagePool.from_arrays(_arrays(), truth=[0, 1, 0, 1, 0, 1], classes=["cat", "dog", "cat"])


def _empty_class():
    return ImagePool.from_arrays(_arrays(), truth=[0, 1, 0, 1, 0, 1], classes=["cat", "  "])


def _duplicate_classes_learner():
    pool = ImagePool.from_arrays(_arrays(20))
    return ActiveLearner(pool, classes=["cat", "dog", "cat"], store=":memory:")


def _label_outside_truth():
    return ImagePool.from_arrays(_arrays(), ids=[f"scan-{i}" for i in range(6)],
                                 truth=["cat", "dog", "cat", "zebra", "cat", "dog"], classes=["cat", "dog"])


REFUSED = {
    # name: (builder, exception, [regexes: what is wrong + the item, what to do])
    "NaN pixels": (_nan_pixels, ValueError, [r"'scan-3'", r"NaN", r"np\.nan_to_num"]),
    "object-dtype array": (_object_dtype, ValueError, [r"dtype object", r"pass numeric pixel values"]),
    "complex-dtype array": (_complex_dtype, ValueError, [r"complex64", r"pass numeric pixel values"]),
    "mean/std-normalised floats": (_normalised_floats, ValueError, [r"'scan-0'", r"undo any mean/std normalisation"]),
    "negative integers in one image of a list": (_image_list_wrong_dtype, ValueError,
                                                 [r"'scan-5'", r"expected \[0, 255\]", r"rescale"]),
    "ids and images of different lengths": (_ids_length, ValueError, [r"3 ids for 6 images", r"exactly one id"]),
    "truth and images of different lengths": (_truth_length, ValueError, [r"7 values but there are 6 images",
                                                                          r"one class per image"]),
    "duplicate ids": (_duplicate_ids, ValueError, [r"duplicate item id 'b'", r"position 3", r"must be unique"]),
    "duplicate class names": (_duplicate_classes, ValueError, [r"'cat' appears twice", r"pass each once"]),
    "empty class name": (_empty_class, ValueError, [r"must not be empty or blank", r"'  '"]),
    "duplicate class names given to the learner": (_duplicate_classes_learner, ValueError,
                                                   [r"unique and non-empty", r"'cat', 'dog', 'cat'"]),
    "truth label outside the classes": (_label_outside_truth, ValueError,
                                        [r"'zebra'", r"item 'scan-3'", r"pass one of them or add the class"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_with_a_clear_message(case):
    tried()
    build, error, patterns = REFUSED[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(error) as info:
            build()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    tally("refused")


# ----------------------------------------------------------------------------- labels and stores


def test_label_outside_the_classes_while_the_widget_is_open(digits120, tiny_learner, make_widget):
    tried()
    learner = tiny_learner(digits120)
    w = make_widget(learner, k=4)
    w.cards[0].pick("3")
    item, other = w.cards[1].item_id, w.cards[2].item_id
    with pytest.raises(ValueError, match=rf"label 'zebra' for item '{other}' is not one of the classes.*use one of them"):
        learner.teach([item, other], ["4", "zebra"])
    with pytest.raises(ValueError, match=r"label 10 for item .* is not a class index 0\.\.9"):
        learner.teach(item, 10)
    assert learner.labels == {w.cards[0].item_id: "3"}  # nothing half-written
    w.refresh()  # the widget and the session go on
    w.cards[1].pick("4")
    w.retrain()
    assert w.wait(90) and learner.history[-1].ok and w.error == ""
    assert len(learner.labels) == 2
    assert_escaped(w)
    tally("refused")


def _store_from_another_tool(path: Path, pool) -> None:
    """A store made by this pool's learner, then given a label outside its classes by another program."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ActiveLearner(pool, store=path, validation_size=12, backbone=Backbone(image_size=16)).close()
    with LabelStore(path) as store:
        store.set(pool.ids[50], "zebra", source="import")


def _store_newer_schema(path: Path, pool) -> None:
    LabelStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")


def _store_other_pool(path: Path, pool) -> None:
    other = ImagePool.from_arrays(np.zeros((30, 8, 8), np.uint8), truth=[str(i % 10) for i in range(30)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ActiveLearner(other, store=path, validation_size=5).close()


def _store_other_classes(path: Path, pool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ActiveLearner(pool, classes=list(pool.classes)[::-1], store=path, validation_size=12).close()


def _store_garbage(path: Path, pool) -> None:
    path.write_bytes(garbage_bytes(4096))


STORES = {
    # name: (make the file, exception, [regexes])
    "store file from a newer schema": (_store_newer_schema, LabelStoreError,
                                       [r"written by a newer alwidget", r"schema version 99", r"upgrade alwidget"]),
    "store file from a different pool": (_store_other_pool, ValueError,
                                         [r"labels\.db", r"belongs to a different pool",
                                          r"open a new store file for this pool"]),
    "store file made with other classes": (_store_other_classes, ValueError,
                                           [r"labels\.db", r"was made with classes", r"open a new store file"]),
    "store path holding garbage bytes": (_store_garbage, LabelStoreError,
                                         [r"labels\.db", r"not an alwidget label store",
                                          r"pass the path of a label store or of a new file"]),
    "store holding a label outside the classes": (_store_from_another_tool, ValueError, [r"'zebra'"]),
}


@pytest.mark.parametrize("case", list(STORES))
def test_store_file_refused_and_the_session_goes_on(case, tmp_path, digits120, tiny_learner, make_widget):
    tried()
    make, error, patterns = STORES[case]
    path = tmp_path / "labels.db"
    make(path, digits120)
    before = path.read_bytes()
    with pytest.raises(error) as info:
        tiny_learner(digits120, store=path)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    assert path.read_bytes() == before  # the refused file is left as it was
    # the session goes on with a new store file
    learner = tiny_learner(digits120, store=tmp_path / "new.db")
    w = make_widget(learner, k=4)
    w.cards[0].pick("0")
    w.retrain()
    assert w.wait(90) and learner.history[-1].ok
    tally("refused")


def test_store_label_outside_the_classes_names_the_items_and_what_to_do(tmp_path, digits120, tiny_learner):
    path = tmp_path / "labels.db"
    _store_from_another_tool(path, digits120)
    with pytest.raises(ValueError) as info:
        tiny_learner(digits120, store=path)
    message = str(info.value)
    assert "labels.db" in message and digits120.ids[50] in message
    assert re.search(r"undo|remove|pass classes", message)


# ----------------------------------------------------------------------------- the documentation

WIDGET_LABEL_CASE = "label outside the classes (while the widget is open)"


def test_docs_table_lists_every_case():
    """docs/bad_input.md names every case run here, once, and its headline counts match."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "bad_input.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| ([^|]+?) \|", doc, flags=re.M)
    names = [name.strip() for _, name in rows]
    cases = list(FILE_CASES) + list(NAME_CASES) + list(REFUSED) + [WIDGET_LABEL_CASE] + list(STORES)
    assert sorted(names) == sorted(cases) and [int(n) for n, _ in rows] == list(range(1, len(cases) + 1))
    works = sum(o.kind == "works" for _, _, o in FILE_CASES.values()) + len(NAME_CASES)
    skipped = sum(o.kind == "skipped" for _, _, o in FILE_CASES.values())
    refused = len(REFUSED) + len(STORES) + 1
    assert f"**{len(cases)} cases: {works} work, {skipped} are skipped with a reason, {refused} are refused" in doc
