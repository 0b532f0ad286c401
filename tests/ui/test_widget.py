"""The widget driven kernel-side: clicks, key events, background cycles, review, errors.

Every test uses a tiny learner (200 digits, 20 training steps). What the person does in the
page arrives as the board's messages (``tests/ui/conftest.py::Page`` sends what board.js
sends, through the comm entry point); ``card.pick`` and ``press`` are the same from code.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from alwidget import ImagePool, LabelingWidget

from .conftest import Page

pytestmark = pytest.mark.timeout(120)

EVIL = "<img src=x onerror=alert(1)>"


def key(w, k, **mods):
    """Press a key with the grid focused, as board.js forwards it."""
    return _page(w).key(k, **mods)


_PAGES = {}


def _page(w):
    if id(w) not in _PAGES or _PAGES[id(w)].w is not w:
        from .conftest import Page

        _PAGES[id(w)] = Page(w)
    return _PAGES[id(w)]


def plot_data(w):
    from alwidget.ui.plots import trace

    return (tuple(trace(w.plots, "unlabelled").y), tuple(trace(w.plots, "labelled").y),
            tuple(trace(w.plots, "this session").x), tuple(trace(w.plots, "this session").y))


def test_learner_widget_and_package_name_give_the_widget(make_learner):
    import alwidget

    learner = make_learner()
    w = learner.widget(k=5)
    try:
        assert isinstance(w, alwidget.LabelingWidget) and len(w.cards) == 5
    finally:
        w.close()


def test_clicking_class_buttons_saves_at_once(make_widget):
    w = make_widget(k=6)
    assert w.mode == "label" and len(w.cards) == 6
    card = w.cards[2]
    card.pick("7")
    event = w.learner.store.get(card.item_id)
    assert (event.label, event.source, event.split) == ("7", "human", "train")
    assert card.label == "7" and w.board.cards[2]["label"] == "7"
    assert "<b>1</b> labels" in w.status
    assert w.focused is w.cards[3]  # moves on to the next card to label
    assert w.board.focus[0] == 3  # ...and tells the page
    # correcting a card relabels it; the store keeps both events, the latest counts
    card.pick("1")
    assert w.learner.labels[card.item_id] == "1"
    assert w.recent_events[0].label == "1" and w.board.recent[0]["label"] == "1"


def test_a_click_in_the_page_is_acknowledged_and_a_refused_one_reverted(make_widget, page, monkeypatch):
    import sqlite3

    w = make_widget(k=4)
    p = page(w)
    ids = w.grid_ids
    serial = w.board.focus[1]
    ack = p.click(1, "7")
    assert ack["kind"] == "ack" and ack["ok"] and ack["token"] == p.token
    assert w.learner.labels == {ids[1]: "7"} and w.board.cards[1]["label"] == "7"
    # the page moved its focus itself (to card 2): the widget follows without pushing it back
    assert w._focus == 2 and w.board.focus[1] == serial
    # a pick the store refuses: the ack says why, the card shows no label, the error is shown
    def full_disk(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(w.learner, "teach", full_disk)
    ack = p.click(3, "2")
    assert not ack["ok"] and "not saved" in ack["message"]
    assert w.board.cards[3]["label"] is None and "not saved" in w.error
    assert ack["message"] == w._last_error and "disk is full" in ack["message"]
    monkeypatch.undo()
    # nonsense from the page is refused, never raised into the comm layer
    assert not p.send(kind="pick", id=ids[0], label="no such class")["ok"]
    ack = p.send(kind="bogus")
    assert not ack["ok"] and "unknown command 'bogus'" in ack["message"]


def test_number_keys_move_undo_and_skip(make_widget):
    w = make_widget(k=8)
    ids = w.grid_ids
    assert w.focused.item_id == ids[0]
    key(w, "3")
    key(w, "ArrowRight")  # focus had moved to card 1; now card 2
    key(w, "9")
    assert w.learner.labels == {ids[0]: "3", ids[2]: "9"}
    assert w.focused.item_id == ids[3]
    key(w, "ArrowDown")
    assert w.focused.item_id == ids[7]  # four columns: one row down
    key(w, "ArrowUp")
    key(w, "s")
    assert w.cards[3].skipped and w.focused.item_id == ids[4]
    key(w, "Backspace")  # undoes the latest label: card 2
    assert w.learner.labels == {ids[0]: "3"} and w.cards[2].label is None
    assert "Undid" in w.message
    w.handle_event({"type": "keydown", "key": "Shift"})  # a modifier alone does nothing...
    w.handle_event({"type": "keydown", "key": "1", "ctrlKey": True})  # ...nor a modified key
    assert w.learner.labels == {ids[0]: "3"}


def test_keys_pressed_from_code_move_the_page_focus(make_widget):
    w = make_widget(k=8)
    serial = w.board.focus[1]
    w.press("3")
    assert w.board.focus == [1, serial + 1]  # a new serial: the page applies it
    w.press("ArrowDown")
    assert w.board.focus[0] == 5 and w.focused.item_id == w.grid_ids[5]
    assert [c["id"] for c in w.board.cards] == w.grid_ids


def test_typeahead_with_slash(make_widget):
    w = make_widget(k=3)
    for k in ("/", "5"):  # from code (the page opens a type-ahead field of its own on "/")
        w.press(k)
    assert "type: 5 → 5" in w.focused.info and w.board.cards[0]["typeahead"] == "5"
    w.press("Enter")
    assert w.learner.labels == {w.grid_ids[0]: "5"}  # Enter picked, it did not submit


def test_submit_retrains_in_background_and_refreshes_grid_status_and_plots(make_widget, label_from_truth):
    w = make_widget(k=10)
    before = plot_data(w)
    first = label_from_truth(w)
    key(w, "Enter")
    # the next batch is there at once, while the cycle runs in the background
    second = w.grid_ids
    assert len(second) == 10 and not set(first) & set(second)
    # keep labelling while it trains: these labels must survive the refresh
    w.cards[0].pick("4")
    w.cards[1].pick("2")
    given = {second[0]: "4", second[1]: "2"}
    assert w.wait(90)
    learner = w.learner
    assert len(learner.history) >= 1 and learner.history[-1].ok
    assert "cycle 1" in w.status and "validation accuracy" in w.status
    assert "%" in w.status and "[" in w.status  # accuracy and its interval
    after = plot_data(w)
    assert after != before
    assert sum(after[0]) + sum(after[1]) > 0 and len(after[3]) == 1
    assert w.board.progress == 1.0 and w.board.step == "cycle done"
    # labels given meanwhile are kept, in the store and in place on the grid
    for item, lab in given.items():
        assert learner.labels[item] == lab
    assert w.grid_ids[:2] == second[:2] and w.cards[0].label == "4"
    # the other cards now follow the new ranking, and show the model's suggestion (the card
    # the person was just at stays a moment, so a key press in flight labels what they saw)
    rest = [c for c in w.cards if c.label is None]
    assert rest and all(c.suggestion is not None for c in rest)
    assert all(c.suggestion.band in ("easy", "medium", "hard") for c in rest)
    fresh = set(learner.query(10 + 2))
    moved = {c.item_id for c in rest if c is not w.cards[2]}
    assert len(moved) >= 7 and moved <= fresh


def test_grid_refresh_keeps_labels_given_while_training_finetune(make_learner, make_widget, label_from_truth):
    learner = make_learner(mode="finetune")
    w = make_widget(learner, k=6)
    label_from_truth(w)
    w.submit()
    assert learner.running
    label_from_truth(w, 3)  # while the cycle runs
    labelled = w.grid_ids[:3]
    assert w.wait(90)
    assert w.grid_ids[:3] == labelled and all(w.learner.store.get(i) for i in labelled)
    assert learner.history[-1].ok and learner.cycle_due  # the cycle is stale: labels came meanwhile
    assert "labels changed since the last training" in w.status


def test_a_batch_submitted_while_training_queues_another_cycle(make_widget, label_from_truth):
    w = make_widget(k=6)
    label_from_truth(w)
    w.submit()
    label_from_truth(w)
    w.submit()  # still running: the widget queues one more cycle
    assert w.wait(90)
    assert len(w.learner.history) == 2 and w.learner.history[-1].n_labels == 12
    assert not w.learner.cycle_due


def test_auto_retrain_off_and_retrain_now(make_widget, label_from_truth):
    w = make_widget(k=5, auto_retrain=False)
    label_from_truth(w)
    w.press("Enter")
    assert not w.learner.running and w.learner.history == []
    Page(w).action("retrain")
    assert w.wait(90) and len(w.learner.history) == 1


def test_undo_any_recent_label_and_change_it(make_widget, page):
    w = make_widget(k=6)
    ids = w.grid_ids
    for card, lab in zip(w.cards[:4], "1234"):
        card.pick(lab)
    rows = list(w.board.recent)
    assert [r["id"] for r in rows[:4]] == ids[:4][::-1]
    assert [e.seq for e in w.recent_events] == [r["seq"] for r in rows]
    p = page(w)
    # undo the third-most-recent label, not the last one
    target = rows[2]
    assert target["id"] == ids[1]
    assert p.send(kind="undo", seq=target["seq"], id=target["id"])["ok"]
    assert ids[1] not in w.learner.labels and len(w.learner.labels) == 3
    assert w.cards[1].label is None
    assert ids[1] not in [r["id"] for r in w.board.recent]
    # change another one through its dropdown
    row = next(r for r in w.board.recent if r["id"] == ids[0])
    assert p.send(kind="relabel", seq=row["seq"], id=row["id"], label="8")["ok"]
    assert w.learner.labels[ids[0]] == "8" and w.cards[0].label == "8"
    assert w.board.recent[0]["label"] == "8"
    # an undo or change clicked on a row that still shows an older label (a click racing the
    # refresh) does not touch the newer one
    w.cards[0].pick("9")
    assert not p.send(kind="undo", seq=row["seq"], id=row["id"])["ok"]
    assert not p.send(kind="relabel", seq=row["seq"], id=row["id"], label="2")["ok"]
    assert w.learner.labels[ids[0]] == "9" and "changed meanwhile" in w.message


def test_review_mode_accepts_and_corrects_hardest_first(make_widget, label_from_truth):
    w = make_widget(k=6)
    w.set_mode("review")
    assert w.mode == "label" and "needs a model" in w.message  # no model yet
    label_from_truth(w)
    w.submit()
    assert w.wait(90)
    Page(w).set("mode", "review")
    assert w.mode == "review"
    learner = w.learner
    unc = learner.uncertainty
    shown = [learner.pool.index(i) for i in w.grid_ids]
    assert list(unc[shown]) == sorted(unc[shown], reverse=True)  # hardest first
    taken = set(learner.store.labels(split=None)) | set(learner.validation_ids)
    others = [i for i in range(len(learner.pool)) if learner.pool.ids[i] not in taken]
    assert unc[shown[0]] == pytest.approx(max(unc[others]))
    first = w.cards[0]
    suggestion = first.suggestion.label
    key(w, "a")
    event = learner.store.get(first.item_id)
    assert (event.label, event.source) == (suggestion, "suggestion")
    second = w.cards[1]
    wrong = next(c for c in learner.classes if c != second.suggestion.label)
    second.pick(wrong)
    assert learner.store.get(second.item_id).source == "human"
    sources = {e.item_id: e.source for e in learner.store.events()}
    assert sources[first.item_id] == "suggestion" and sources[second.item_id] == "human"
    page = w.grid_ids
    key(w, "Enter")
    assert not set(page) & set(w.grid_ids)


def test_first_screen_is_the_validation_set(make_learner, make_widget):
    learner = make_learner(validation_from_truth=False, validation_size=10)
    w = make_widget(learner, k=6)
    assert w.mode == "validation"
    assert set(w.grid_ids) <= set(learner.validation_ids)
    assert all(not c.show_suggestion_text for c in w.cards)
    truth = learner.pool.truth
    for _ in range(3):
        for card in list(w.cards):
            key(w, truth[card.item_id])
        key(w, "Enter")
        if w.mode == "label":
            break
    assert learner.pending_validation() == []
    assert w.mode == "label" and not set(w.grid_ids) & set(learner.validation_ids)
    assert learner.store.counts() == {"train": 0, "validation": 10}


def test_simulation_skips_the_first_screen_and_the_oracle_answers(make_learner, make_widget):
    learner = make_learner(validation_from_truth=False, validation_size=10)
    w = make_widget(learner, k=5, simulate=True)
    assert w.mode == "label" and learner.pending_validation() == []
    key(w, "o")
    truth = learner.pool.truth
    assert {i: truth[i] for i in w.grid_ids} == learner.labels
    assert {e.source for e in learner.store.events()} == {"oracle"}


def test_training_error_is_shown_and_the_session_goes_on(make_widget, label_from_truth):
    w = make_widget(k=5)
    learner = w.learner
    good = learner.train_config
    learner.train_config = dataclasses.replace(good, lr=float("inf"))
    label_from_truth(w)
    w.submit()
    assert w.wait(90)
    assert w.error != ""
    assert "training failed" in w.error and "nan" in w.error
    assert "failed" in w.status and w.board.step == "cycle failed"
    # the session continues: label more, fix the settings, retrain
    label_from_truth(w, 2)
    learner.train_config = good
    key(w, "r")
    assert w.wait(90) and learner.history[-1].ok
    assert w.error == ""


def test_names_are_escaped_everywhere(make_learner, make_widget, digits200):
    images = np.stack([digits200.image(i) for i in digits200.ids[:60]])
    ids = [f"{EVIL}-{i}.png" for i in range(60)]
    truth = [EVIL if int(digits200.truth[i]) < 5 else "plain & simple" for i in digits200.ids[:60]]
    pool = ImagePool.from_arrays(images, ids=ids, truth=truth, classes=[EVIL, "plain & simple"])
    learner = make_learner(pool, validation_size=6)
    w = make_widget(learner, k=4, simulate=True)
    w.cards[0].pick(EVIL)
    w.submit()
    assert w.wait(90)
    w.undo()  # the message names the label undone
    # the HTML the page renders as HTML is escaped...
    htmls = [w.status, w.message, w.error, w.board.instructions, w.board.notes]
    assert any("&lt;img" in h for h in htmls)
    assert not any("<img" in h for h in htmls)
    # ...and the names reach the board as data, which board.js sets as text (tests/browser checks)
    assert EVIL in w.board.classes and w.board.cards[0]["id"].startswith(EVIL)
    assert any(r["label"] == EVIL for r in w.board.recent) or w.recent_events == []


def test_strategy_k_and_export(make_widget, label_from_truth, tmp_path):
    w = make_widget(k=4)
    p = Page(w)
    assert p.set("strategy", "margin")["ok"]
    assert w.learner.strategy.name == "margin" and w.board.strategy == "margin"
    assert p.set("k", 7)["ok"]
    assert len(w.cards) == 7 and len(w.board.cards) == 7 and len(w.board.images) == 7
    label_from_truth(w, 3)
    assert p.set("k", 3)["ok"]
    assert len(w.cards) == 3 and all(c.label is not None for c in w.cards)
    assert p.set("export_dir", str(tmp_path))["ok"] and w.export_dir == str(tmp_path)
    assert p.action("export", what="csv")["ok"]
    assert p.action("export", what="json", folder=str(tmp_path))["ok"]
    assert (tmp_path / "labels.csv").read_text().count("\n") == 1 + 3 + 20  # header, train, validation
    assert len(json.loads((tmp_path / "labels.json").read_text())) == 23
    ack = p.action("export", what="model")  # no model yet: an error in the widget, not an exception
    assert not ack["ok"] and "no model yet" in ack["message"]
    assert "no model yet" in w.error
    w.retrain()
    assert w.wait(90)
    assert p.action("export", what="model")["ok"]
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "model.json").is_file()
    assert "model.pt" in w.message
    # a strategy that cannot run with this estimator is refused and the dropdown goes back
    ack = p.set("strategy", "edl_vacuity")  # refused: at the ack the page's field shows "margin" again
    assert not ack["ok"] and w.learner.strategy.name == "margin" and w.board.strategy == "margin"
    assert "edl_vacuity" in w.error


def test_many_classes_typeahead(make_learner, make_widget, digits200, page):
    classes = [f"kind {i:02d}" for i in range(12)]
    images = np.stack([digits200.image(i) for i in digits200.ids[:120]])
    truth = [classes[i % 12] for i in range(120)]
    pool = ImagePool.from_arrays(images, truth=truth, classes=classes)
    w = make_widget(make_learner(pool, validation_size=12), k=4)
    assert w.board.max_buttons == 10 and len(w.board.classes) == 12  # the page shows a type-ahead field
    p = page(w)
    card = w.cards[0]
    assert p.send(kind="pick_text", id=card.item_id, text="KIND 11", focus=1)["ok"]  # case does not matter
    assert w.learner.labels[card.item_id] == "kind 11"
    assert p.send(kind="pick_text", id=w.cards[1].item_id, text="kind 1", focus=2)["ok"]  # a prefix: the first
    assert w.learner.labels[w.cards[1].item_id] == "kind 10"
    ack = p.send(kind="pick_text", id=w.cards[2].item_id, text="zebra", focus=2)
    assert not ack["ok"] and "no class matches 'zebra'" in ack["message"] and w.cards[2].label is None
    for k in "/kind 03":  # typing from code
        w.press(k)
    w.press("Enter")
    assert w.learner.labels[w.cards[2].item_id] == "kind 03"


def test_close_detaches_from_the_learner(make_learner):
    learner = make_learner()
    w = LabelingWidget(learner, k=3)
    assert w._on_progress in learner.progress_callbacks
    w.close()
    assert w._on_progress not in learner.progress_callbacks


def test_plots_are_updated_in_place_not_recreated(make_widget, label_from_truth):
    w = make_widget(k=6)
    from alwidget.ui.plots import panel_title, trace

    figs = (w.plots,)
    traces = [tuple(f.data) for f in figs]
    board = w.board
    for _ in range(2):
        label_from_truth(w)
        w.submit()
        assert w.wait(90)
    assert (w.plots,) == figs and w.board is board and w.widgets == [board, w.plots]
    assert [tuple(f.data) for f in figs] == traces
    assert list(trace(w.plots, "this session").x) == [6, 12]
    assert "cycle 2" in panel_title(w.plots, "uncertainty") and "at 12" in panel_title(w.plots, "accuracy")


def test_a_click_on_a_card_already_replaced_labels_the_item_it_showed(make_widget, label_from_truth):
    w = make_widget(k=4, auto_retrain=False)
    old = w.cards[0]
    w.submit()  # the grid moves on before the click arrives
    assert old not in w.cards and old.item_id not in w.grid_ids
    old.pick("5")
    assert w.learner.labels == {old.item_id: "5"}
    assert all(c.label is None for c in w.cards)


def test_refresh_after_teaching_from_code(make_learner, make_widget):
    learner = make_learner(validation_from_truth=False, validation_size=8)
    w = make_widget(learner, k=4)
    assert w.mode == "validation"
    truth = learner.pool.truth
    pending = learner.pending_validation()
    learner.teach(pending, [truth[i] for i in pending], source="import")
    w.refresh()
    assert w.mode == "label" and "validation 8/8" in w.status
    item = w.grid_ids[1]
    learner.teach(item, truth[item], source="import")
    w.refresh()
    assert w.cards[1].label == truth[item] and "(import)" in w.cards[1].info
    assert w.board.cards[1]["source"] == "import"


def test_skipped_validation_images_come_back_last(make_learner, make_widget):
    learner = make_learner(validation_from_truth=False, validation_size=6)
    w = make_widget(learner, k=3)
    first = w.grid_ids
    key(w, "s")
    assert w.cards[0].skipped
    key(w, "Enter")
    assert first[0] not in w.grid_ids[:2]
    assert w.mode == "validation"


def test_cancel_keeps_the_previous_model(make_learner, make_widget, label_from_truth):
    learner = make_learner(mode="finetune", train={"max_steps": 5000, "patience": 0, "max_epochs": 10000})
    w = make_widget(learner, k=5)
    label_from_truth(w)
    w.submit()
    assert learner.running and w.board.running
    Page(w).action("cancel")
    assert w.wait(60)
    assert learner.history[-1].error and learner.uncertainty is None
    assert "cancelled" in w.message and w.error == ""
    assert not w.board.running
    w.cards[0].pick("1")  # the session goes on
    assert w.learner.labels[w.cards[0].item_id] == "1"


def test_images_that_cannot_be_read_are_named(tmp_path, make_learner, make_widget, digits200):
    from PIL import Image

    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i, item in enumerate(digits200.ids[:10]):
            Image.fromarray(digits200.image(item)[:, :, 0]).save(root / cls / f"{i}.png")
    (root / "a" / f"{EVIL}.png").write_bytes(b"")
    (root / "b" / "notes.png").write_text("not an image")
    pool = ImagePool.from_folder(root)
    assert len(pool.skipped) == 2
    w = make_widget(make_learner(pool, validation_size=4), k=4)
    notes = w.board.notes
    assert "2 images could not be read" in notes
    assert "b/notes.png" in notes and "&lt;img" in notes and "<img" not in notes
    unreadable = [c for c in w.board.cards if c["unreadable"]]
    assert all(c["id"] not in w.board.images for c in unreadable)


def test_semi_mode_shows_the_representation_while_the_validation_set_is_labelled(make_learner, make_widget):
    """The default mode: the progress row says the pool is being learned while the person labels
    the validation set; once it is learned and the validation set is done, the first batch (typical
    points of the representation) is on screen without waiting for a training cycle."""
    import time

    learner = make_learner(mode="semi", validation_from_truth=False, validation_size=10, image_size=16,
                           representation_config={"steps": 60, "batch_size": 64})
    w = make_widget(learner, k=6)
    assert w.mode == "validation"
    deadline = time.monotonic() + 60
    while "learning the pool" not in w.board.step and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "learning the pool" in w.board.step and "%" in w.board.step
    learner.representation.result()
    truth = learner.pool.truth
    for _ in range(3):
        for card in list(w.cards):
            key(w, truth[card.item_id])
        key(w, "Enter")
        if w.mode == "label":
            break
    assert w.mode == "label" and len(w.grid_ids) == 6
    assert learner.history == [] and not learner.running  # shown from the representation: no cycle waited for
    assert not set(w.grid_ids) & set(learner.validation_ids)


def test_the_grid_is_one_model_whatever_k_and_a_new_batch_adds_none(make_learner):
    import ipywidgets as widgets

    learner = make_learner()
    learner.query(1)
    made = {}
    for k in (1, 12, 24):
        before = set(widgets.Widget.widgets)
        w = LabelingWidget(learner, k=k)
        made[k] = len(set(widgets.Widget.widgets) - before)
        if k == 12:
            before = set(widgets.Widget.widgets)
            w.submit()
            w.submit()
            assert set(widgets.Widget.widgets) == before  # new batches: no new models
        w.close()
        learner.cancel()
    # the page is one anywidget (and its layout model), the plots one figure: 3 models whatever k
    assert made == {1: 3, 12: 3, 24: 3}, made


def test_one_command_table_for_the_page_the_keys_and_code(make_widget):
    """Everything the page sends and every key names a command of the one table."""
    import re

    from alwidget.ui.board import PAGE_MESSAGES, esm_source
    from alwidget.ui.commands import _KEY_COMMANDS, COMMANDS
    from alwidget.ui.keyboard import KeyMap

    js = esm_source()
    kinds = set(re.findall(r'kind: "(\w+)"', js)) | set(re.findall(r'"accept" : "pick"', js) and ["accept", "pick"])
    assert kinds == set(PAGE_MESSAGES), kinds ^ set(PAGE_MESSAGES)
    named = set(re.findall(r'kind: "set", name: "(\w+)"', js)) | set(re.findall(r'action\("(\w+)"', js))
    bar = js[js.index("const barSpec = ["):]
    bar = bar[: bar.index("];")]
    named |= set(re.findall(r'\["(\w+)", "', bar)) - {"skip", "accept", "confirm", "help"}  # those four: the page
    assert {"retrain", "cancel", "dismiss", "submit", "undo", "oracle", "accept_all", "mode", "strategy", "k", "target",
            "auto_retrain", "export_dir"} <= named | {"mode"}
    assert (kinds - {"action", "set", "key"}) | named <= set(COMMANDS)
    keys = KeyMap([str(i) for i in range(3)])
    for key in ["ArrowLeft", "ArrowDown", "Tab", "1", "/", "a", "A", "s", "c", "Enter", "Backspace", "r", "o", "?", "Escape"]:
        kind = keys({"type": "keydown", "key": key, "shiftKey": key == "A"}).kind
        assert kind == "none" or _KEY_COMMANDS.get(kind, kind) in COMMANDS, (key, kind)
    # code: the same table, and a refusal says why
    w = make_widget(k=3)
    assert w.run_command("k", value=5) is None and w.k == 5 and len(w.board.cards) == 5
    assert "between 1 and 200" in w.run_command("k", value=0) and "between 1 and 200" in w.error and w.k == 5
    with pytest.raises(ValueError, match="between 1 and 200"):
        w.set_k(201)
    assert w.run_command("no such thing") == "unknown command 'no such thing'"


def test_the_board_ships_its_es_module_inline(make_widget):
    from importlib.resources import files

    w = make_widget(k=2)
    state = w.board.get_state()
    esm = state["_esm"]
    assert esm == files("alwidget.ui").joinpath("board.js").read_text(encoding="utf-8")
    assert "export default" in esm and "data-lm-suppress-shortcuts" in esm
    assert "\n" in esm and not esm.startswith(("http:", "https:", "./", "../"))  # code, not a URL or a path
    assert "http" not in esm and "import " not in esm.split("export default")[0]  # nothing fetched
    assert "url(" not in state["_css"] and "@import" not in state["_css"]


def test_images_travel_as_binary_buffers(make_widget):
    from ipywidgets.widgets.widget import _remove_buffers

    w = make_widget(k=3)
    _state, paths, buffers = _remove_buffers(w.board.get_state())
    assert sorted(p[1] for p in paths if p[0] == "images") == sorted(w.grid_ids)
    assert all(bytes(b[:8]) == b"\x89PNG\r\n\x1a\n" for p, b in zip(paths, buffers) if p[0] == "images")
    assert {p[0] for p in paths} <= {"images", "map_xy", "map_label", "map_pred", "map_unc", "map_flags"}
    assert "base64" not in json.dumps(_state)
