"""The screens as objects (alwidget/ui/screens.py): the toolbar lists them, each widget has its own,
and what a screen says (suggestions, accept all, confirming) is what the widget does."""

from __future__ import annotations

from alwidget.ui.screens import SCREENS, CheckScreen, ReviewScreen, Screen, ValidationScreen, make_screens

from .conftest import Page


def test_the_toolbar_lists_the_screens_and_each_widget_has_its_own(make_widget, label_from_truth):
    assert [cls.name for cls in SCREENS] == ["validation", "label", "review", "check", "map"]
    a, b = make_screens(), make_screens()
    assert all(a[name] is not b[name] for name in a) and isinstance(a["label"], Screen)
    w = make_widget(k=4)
    assert w.board.screens == [[s.name, s.title, s.tip] for s in w.screens.values()]
    assert w.screen is w.screens["label"] and type(w.screens["review"]) is ReviewScreen
    label_from_truth(w)
    w.submit()
    assert w.wait(90)
    w.set_mode("review")  # the review order lives in this widget's screen, a page at a time
    review = w.screen
    assert review.order and review.page == 0 and w.grid_ids == [i for i in review.order if i not in w.learner.labels][:4]
    w.submit()
    assert review.page == 1


def test_what_a_screen_says_is_what_the_widget_does(make_learner, make_widget):
    learner = make_learner(validation_from_truth=False)
    w = make_widget(learner, k=4)
    assert w.mode == "validation" and isinstance(w.screen, ValidationScreen) and not w.screen.suggestions
    p = Page(w)
    ack = p.send(kind="accept", id=w.cards[0].item_id, label=None, focus=0)
    assert not ack["ok"] and ack["message"] == "no suggestion to accept: " + ValidationScreen.no_suggestions
    w.accept_all()
    assert "without the model" in w.message and learner.labels == {}
    ack = p.send(kind="confirm", id=w.cards[0].item_id, focus=0)  # c belongs to Check my labels only
    assert not ack["ok"] and "Check my labels" in ack["message"] and CheckScreen.confirms
    w.set_mode("check")  # nothing labelled yet: the screen refuses to open and says why
    assert w.mode == "validation" and "Nothing to check yet" in w.message


def test_a_selection_is_labelled_as_one_group_and_undone_as_one(make_learner, make_widget, tmp_path):
    learner = make_learner(store=tmp_path / "sel.db")
    w = make_widget(learner, k=4)
    val = learner.validation_ids[0]
    picked = [i for i in learner.pool.ids if i not in learner.validation_ids][:30]
    assert w.label_selection(picked + [val], "3") == 30  # the validation item is left out, and said
    assert "Labelled 30 images" in w.message and "1 validation item left out" in w.message
    assert all(learner.labels[i] == "3" for i in picked) and learner.store.get(val).source == "oracle"
    events = [learner.store.get(i) for i in picked]
    assert {e.source for e in events} == {"map"} and len({e.group for e in events}) == 1
    assert all(r["source"] == "map" for r in w.board.recent)
    ack = Page(w).send(kind="action", name="undo")  # the batch bar's Undo: the whole group
    assert ack["ok"] and not set(picked) & set(learner.labels) and "labels given together" in w.message
    # code, the page and keys run the same command; refusals store nothing
    assert w.run_command("label_selection", ids=picked[:5], label="7") is None
    assert "not a class" in w.run_command("label_selection", ids=picked[5:9], label="seven")
    assert "not in the pool" in w.run_command("label_selection", ids=["nope"], label="7")
    assert set(learner.labels) == set(picked[:5])
    learner.close()
    reopened = make_learner(store=tmp_path / "sel.db")  # reopened: still one group
    assert reopened.undo().source == "map" and not set(picked) & set(reopened.labels)


def _wait_for_map(w, timeout=90):
    import time

    deadline = time.monotonic() + timeout
    while w.board.map_state.get("status") != "ready" and time.monotonic() < deadline:
        assert w.board.map_state.get("status") != "error", w.board.map_state
        time.sleep(0.05)
    assert w.board.map_state.get("status") == "ready", w.board.map_state


def test_the_map_screen_selects_labels_undoes_and_queries_a_region(make_widget, label_from_truth):
    import numpy as np

    w = make_widget(k=6)
    label_from_truth(w)
    w.submit()
    assert w.wait(90)
    p = Page(w)
    assert p.set("mode", "map")["ok"] and w.mode == "map" and w.grid_ids == []  # the map takes the grid's place
    _wait_for_map(w)
    learner, b = w.learner, w.board
    n = len(learner.pool)
    xy = np.frombuffer(b.map_xy, np.float32).reshape(n, 2)
    assert np.allclose(xy, learner.projection()) and len(b.map_label) == 2 * n and len(b.map_unc) == 4 * n
    labels = np.frombuffer(b.map_label, np.int16)
    assert (labels >= 0).sum() == len(learner.store.labels(split=None))  # training and validation labels
    flags = np.frombuffer(b.map_flags, np.uint8)
    assert (flags & 1).sum() == len(learner.validation_ids)
    # a region: the 40 nearest points of one point on the map (the page's lasso sends rows like these)
    centre = xy[0]
    rows = [int(r) for r in np.argsort(((xy - centre) ** 2).sum(1))[:40]]
    assert p.send(kind="map_select", rows=rows)["ok"]
    sel = b.map_selection
    assert sel["count"] == 40 and sum(k for _, k in sel["mix"]) == 40 and len(sel["sample"]) == 12
    assert set(sel["sample"]) <= set(b.map_thumbs) and all(isinstance(v, bytes) for v in b.map_thumbs.values())
    assert p.send(kind="map_hover", row=rows[0])["ok"] and b.map_hover["id"] == learner.pool.ids[rows[0]]
    before = dict(learner.store.labels(split=None))
    ack = p.action("label_map_selection", label="4")
    ids = [learner.pool.ids[r] for r in rows]
    train = [i for i in ids if i not in learner.validation_ids]
    assert ack["ok"] and all(learner.labels[i] == "4" for i in train)
    assert all(learner.store.get(i).label == before[i] for i in ids if i in learner.validation_ids)
    assert (np.frombuffer(b.map_label, np.int16)[[r for r, i in zip(rows, ids) if i in train]] == w.classes.index("4")).all()
    assert p.key("Backspace")["ok"] and learner.store.labels(split=None) == before  # one undo: the whole region
    # Query here: the next batch comes from inside the selection, then the whole pool again
    assert p.action("query_here")["ok"] and w.mode == "label"
    assert w.grid_ids and set(w.grid_ids) <= set(ids) - set(learner.store.labels(split=None))
    w.submit()
    assert w.screen.within is None
