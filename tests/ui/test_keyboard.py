"""The key map: number keys, moves, commands and type-ahead, without any widget."""

from __future__ import annotations

from alwidget.ui.keyboard import KeyAction, KeyMap


def down(key, **mods):
    return {"type": "keydown", "key": key, **mods}


def test_number_keys_pick_classes_and_commands_map():
    keys = KeyMap(["cat", "dog", "cow"])
    assert keys(down("1")) == KeyAction("pick", label="cat")
    assert keys(down("3")).label == "cow"
    assert keys(down("4")).kind == "none"
    assert [keys(down(k)).kind for k in ("a", "s", "Enter", "Backspace", "r", "?")] == \
        ["accept", "skip", "submit", "undo", "retrain", "help"]
    assert keys(down("ArrowRight")) == KeyAction("move", step=1)
    assert keys(down("ArrowLeft")).step == -1
    assert keys(down("Tab", shiftKey=True)).step == -1
    assert keys(down("ArrowDown")) == KeyAction("move_row", step=1)


def test_digit_class_names_map_to_their_own_key():
    keys = KeyMap([str(d) for d in range(10)])
    assert keys(down("0")).label == "0" and keys(down("7")).label == "7"


def test_keyup_and_modified_keys_do_nothing():
    keys = KeyMap(["cat", "dog"])
    assert keys({"type": "keyup", "key": "1"}).kind == "none"
    assert keys(down("s", ctrlKey=True)).kind == "none"
    assert keys(down("1", metaKey=True)).kind == "none"


def test_typeahead_by_prefix_number_and_escape():
    classes = [f"class {i:02d}" for i in range(12)] + ["Sneaker", "Sandal"]
    keys = KeyMap(classes)
    assert keys(down("/")).kind == "typing"
    for ch in "sn":
        act = keys(down(ch))
    assert act == KeyAction("typing", label="Sneaker", text="sn")
    assert keys(down("Backspace")).text == "s"
    assert keys(down("Enter")) == KeyAction("pick", label="Sneaker")
    assert keys.typing is None
    keys(down("/"))
    keys(down("1")), keys(down("2"))
    assert keys(down("Enter")).label == "class 11"  # 12th class, 1-based
    keys(down("/"))
    keys(down("z"))
    assert keys(down("Enter")).kind == "typing"  # no match: stay in type-ahead
    assert keys(down("Escape")).kind == "cancel" and keys.typing is None
    assert keys(down("a")).kind == "accept"
