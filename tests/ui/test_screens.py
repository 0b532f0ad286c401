"""The screens as objects (alwidget/ui/screens.py): the toolbar lists them, each widget has its own,
and what a screen says (suggestions, accept all, confirming) is what the widget does."""

from __future__ import annotations

from alwidget.ui.screens import SCREENS, CheckScreen, ReviewScreen, Screen, ValidationScreen, make_screens

from .conftest import Page


def test_the_toolbar_lists_the_screens_and_each_widget_has_its_own(make_widget, label_from_truth):
    assert [cls.name for cls in SCREENS] == ["validation", "label", "review", "check"]
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
