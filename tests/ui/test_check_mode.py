"""The widget's "Check my labels" screen and the label forecast, driven through the page's messages."""

from __future__ import annotations

import pytest
import torch

from .conftest import Page

CLASSES = [str(i) for i in range(10)]


@pytest.fixture
def checked_widget(make_learner, make_widget, digits_pool):
    """A widget whose learner has 60 training labels, every fifth one wrong (the next class)."""
    pool = digits_pool.subset(digits_pool.ids[:400])
    learner = make_learner(pool, mode="semi", backbone=torch.nn.Flatten(), representation="frozen", image_size=8,
                           train={"max_steps": 100}, strategy="random", refine_every=None, validation_size=30)
    ids = [i for i in pool.ids if i not in set(learner.validation_ids)][:60]
    wrong = set(ids[4::5])
    learner.teach(ids, [CLASSES[(CLASSES.index(pool.truth[i]) + (i in wrong)) % 10] for i in ids])
    learner.retrain()
    w = make_widget(learner, k=8, auto_retrain=False)
    return w, wrong


def open_check(w):
    w.set_mode("check")
    assert w._checker.join(120), "the label check did not finish"
    return w


def test_check_my_labels_shows_the_wrong_labels_first_and_takes_corrections(checked_widget):
    w, wrong = checked_widget
    learner, page = w.learner, Page(w)
    page.set("mode", "check")
    assert w.mode == "check" and w.board.mode == "check"
    assert w._checker.join(120)
    check = learner.last_label_check
    assert w.grid_ids == check.ids[:8] and len(set(w.grid_ids) & wrong) >= 6  # measured: 8 of 8
    assert "Check my labels" in w.board.instructions and check.summary() in w.board.instructions
    state = w.board.cards[0]
    issue = check[0]
    assert state["label"] == issue.label and state["check"]["suggestion"] == issue.suggestion
    assert state["check"]["flagged"] == issue.flagged and state["show_suggestion"] is False
    assert "unseen model:" in w.cards[0].info
    # a class corrects the label: a "review" event; the card stays, marked checked
    bad = next(i for i, item in enumerate(w.grid_ids) if item in wrong)
    item = w.grid_ids[bad]
    truth = learner.pool.truth[item]
    ack = page.click(bad, truth)
    assert ack["ok"] and (learner.store.get(item).label, learner.store.get(item).source) == (truth, "review")
    assert w.board.cards[bad]["source"] == "review" and item in w.grid_ids
    # c keeps a label as it is: an event too, no label changes, so no cycle is due for it
    version = learner.labels_version
    page.send(kind="focus", index=(bad + 1) % 8, id=w.grid_ids[(bad + 1) % 8])
    kept = w.grid_ids[(bad + 1) % 8]
    before = learner.store.get(kept).label
    assert page.key("c")["ok"]
    assert (learner.store.get(kept).label, learner.store.get(kept).source) == (before, "review")
    assert learner.labels_version == version
    # Enter: the next page, without the labels checked
    page.key("Enter")
    assert not {item, kept} & set(w.grid_ids) and w.grid_ids[0] in check.ids
    # coming back after a correction runs a new check; the checked labels are gone from it
    w.set_mode("label")
    open_check(w)
    assert learner.last_label_check is not check
    assert not {item, kept} & set(learner.last_label_check.ids)


def test_check_mode_refuses_what_it_cannot_do(make_widget, make_learner, label_from_truth):
    w = make_widget()
    w.set_mode("check")  # no training labels yet (the validation set's are there)
    assert w._checker.join(120)
    page = Page(w)
    learner = w.learner
    if learner.store.labels(split=None):
        assert w.mode == "check"
    learner2 = make_learner(validation_from_truth=False)
    w2 = make_widget(learner2)
    w2.set_mode("check")
    assert w2.mode != "check" and "Nothing to check yet" in w2.message
    # one class only: a clear error, no crash
    ids = [i for i in learner2.pool.ids if learner2.pool.truth[i] == "1"][:5]
    learner2.teach(ids, ["1"] * 5)
    w2.set_mode("check")
    assert w2._checker.join(60)
    assert "at least two classes" in w2.error and w2.grid_ids == []
    # confirm outside the check screen
    w.set_mode("label")
    ack = page.send(kind="confirm", id=w.grid_ids[0], focus=0)
    assert ack["ok"] is False and "Check my labels" in ack["message"]


def test_the_forecast_line_and_curve_follow_the_cycles(make_widget, make_learner, label_from_truth):
    from alwidget.ui.plots import trace

    learner = make_learner()
    w = make_widget(learner, k=10, target=0.99)
    assert w.target == 0.99 and w.board.target == 0.99
    assert "cannot forecast yet: 0 cycles" in w.status
    for _ in range(3):
        label_from_truth(w)
        w.submit()
        assert w.wait(120)
    fc = w.forecast
    assert fc is not None and fc.n_cycles == 3 and fc.summary() in w.status
    drawn = list(trace(w.plots, "forecast").x)
    assert bool(drawn) == bool(fc.grid_n) and (not drawn or drawn[0] == fc.current_labels)
    assert Page(w).set("target", 0.10)["ok"]  # a target already reached (the page sends a fraction)
    assert w.forecast.reached and "10 % already reached" in w.status
    assert list(trace(w.plots, "forecast").x) == []
    with pytest.raises(ValueError, match="did you mean 0.015"):
        w.set_target(1.5)
    p = Page(w)
    ack = p.set("target", 1.5)  # from the page: refused and said (at the ack the field shows 10 % again)
    assert not ack["ok"] and "did you mean 0.015" in w.error and w.target == 0.10
    with pytest.raises(ValueError, match="did you mean 0.95"):
        make_widget(learner, target=95)
