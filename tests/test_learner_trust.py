"""learner.label_issues / confirm / forecast on real digits, and every bad input a person can give."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alwidget.simulate import balanced_start
from alwidget.stopping import StoppingRule

CLASSES = [str(i) for i in range(10)]


@pytest.fixture
def pixels_learner(digits_pool, learners):
    """A semi-mode learner on 800 digits whose representation is the pixels (ready at once)."""
    pool = digits_pool.subset(digits_pool.ids[:800])

    def make(**kwargs):
        defaults = dict(mode="semi", backbone=torch.nn.Flatten(), representation="frozen", image_size=8,
                        mc_samples=4, validation_size=50, train={"max_steps": 150}, strategy="random",
                        refine_every=None)
        return learners(pool, defaults, **kwargs)

    return make


def careless_labels(pool, ids, every=10):
    """Truth, except every ``every``-th item gets the next class (a known, seeded set of mistakes)."""
    labels, wrong = [], set()
    for j, item in enumerate(ids):
        true = pool.truth[item]
        if j % every == every - 1:
            labels.append(CLASSES[(CLASSES.index(true) + 1) % 10])
            wrong.add(item)
        else:
            labels.append(true)
    return labels, wrong


def test_label_issues_find_the_wrong_labels_on_real_digits(pixels_learner):
    """20 of 200 labels wrong (every tenth, train and validation): the top 40 of the ranking hold
    at least 18 of them (measured: 20), and most labels cleanlab flags are wrong."""
    learner = pixels_learner()
    pool = learner.pool
    ids = learner.validation_ids + [i for i in pool.ids if i not in set(learner.validation_ids)][:150]
    labels, wrong = careless_labels(pool, ids)
    learner.teach(ids, labels)
    check = learner.label_issues()
    assert check.n_checked == 200 and check.n_folds == 5 and len(check) == 200
    top = set(check.ids[:40])
    assert len(top & wrong) >= 18
    flagged = {i.item_id for i in check.flagged}
    assert len(flagged & wrong) >= 0.6 * len(flagged) and len(flagged & wrong) >= 15  # measured: 16 of 24
    first = check[0]
    assert first.item_id in wrong and first.label == labels[ids.index(first.item_id)]
    assert first.suggestion == pool.truth[first.item_id] and first.score > 0.9 and first.probability < 0.1
    assert {i.split for i in check.issues} == {"train", "validation"}
    assert any(i.split == "validation" and i.item_id in wrong for i in check.issues[:40])
    assert learner.last_label_check is check and check.seconds > 0
    assert "features: representation (frozen)" in check.notes
    # the same labels, the same seed: the same ranking
    assert learner.label_issues().ids == check.ids


def test_confirmed_and_corrected_labels_leave_the_check(pixels_learner):
    learner = pixels_learner()
    pool = learner.pool
    ids = [i for i in pool.ids if i not in set(learner.validation_ids)][:60]
    labels, wrong = careless_labels(pool, ids, every=6)
    learner.teach(ids, labels)
    check = learner.label_issues(n_folds=3)
    a, b = check.ids[:2]
    version = learner.labels_version
    events = learner.confirm(a)
    assert [e.source for e in events] == ["review"] and learner.store.get(a).label == labels[ids.index(a)]
    assert learner.labels_version == version  # a confirmation changes no label: no cycle due for it
    learner.teach(b, pool.truth[b], source="review")
    again = learner.label_issues(n_folds=3)
    assert a not in again.ids and b not in again.ids and len(again) == 58
    assert a in learner.label_issues(n_folds=3, include_reviewed=True).ids
    undone = learner.undo(a)  # undoing the confirmation brings the label back to the check
    assert undone.source == "review" and a in learner.label_issues(n_folds=3).ids


def test_bad_input_to_the_check_gets_a_clear_message(pixels_learner):
    learner = pixels_learner()
    pool = learner.pool
    with pytest.raises(ValueError, match="no labels yet"):
        learner.label_issues()
    ids = [i for i in pool.ids if pool.truth[i] == "3"][:6]
    learner.teach(ids, ["3"] * 6)
    with pytest.raises(ValueError, match="all 6 labels are '3'.*at least two classes"):
        learner.label_issues()
    other = [i for i in pool.ids if pool.truth[i] == "5"][:2]
    learner.teach(other, ["5"] * 2)
    with pytest.raises(ValueError, match="8 labels cannot be split into 10 folds.*n_folds=8"):
        learner.label_issues(n_folds=10)
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        learner.label_issues(n_folds=1)
    check = learner.label_issues(n_folds=3)  # 2 labels of '5' < 3 folds: said, not hidden
    assert len(check) == 8 and any("fewer labels than folds in '5'" in n for n in check.notes)
    with pytest.raises(KeyError, match="no label to confirm"):
        learner.confirm([ids[0], pool.ids[-1]])
    assert learner.store.get(ids[0]).source == "human"  # nothing written by the refused call
    with pytest.raises(KeyError, match="not in the pool"):
        learner.confirm("nope")


def test_forecast_from_code_follows_the_cycles(pixels_learner):
    learner = pixels_learner(validation_from_truth=True)
    pool = learner.pool
    with pytest.raises(ValueError, match="no target"):
        learner.forecast()
    assert learner.forecast(0.95).summary() == "cannot forecast yet: 0 cycles with validation accuracy, 3 needed"
    first = balanced_start(learner, 1, 0)
    learner.teach(first, [pool.truth[i] for i in first])
    for _ in range(3):
        learner.retrain()
        more = learner.query(10)
        learner.teach(more, [pool.truth[i] for i in more])
    reports = learner.history
    fc = learner.forecast(target=0.99)
    assert fc.n_cycles == 3 and fc.current_labels == reports[-1].n_labels
    assert fc.current_accuracy == pytest.approx(reports[-1].accuracy)
    if fc.ok:
        assert fc.labels >= fc.current_labels and fc.summary().startswith(f"≈ {fc.labels} labels to 99 %")
    else:
        assert "not reachable" in fc.summary()
    reached = learner.forecast(target=max(0.05, reports[-1].accuracy - 0.01))
    assert reached.reached and "already reached" in reached.summary()
    with pytest.raises(ValueError, match="did you mean 0.95"):
        learner.forecast(target=95)
    learner.stopping = StoppingRule(target_accuracy=0.99)
    assert learner.forecast().target == 0.99
