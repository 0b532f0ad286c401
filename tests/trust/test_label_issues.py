"""Likely mislabels: the stratified folds, out-of-sample probabilities, cleanlab's ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget.trust.label_issues import LabelCheck, LabelIssue, fold_assignment, out_of_sample_probs, rank_label_issues


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=5, max_size=80), st.integers(2, 5), st.integers(0, 10))
def test_folds_are_stratified_and_even(y, n_folds, seed):
    y = np.array(y)
    if len(y) < n_folds:
        with pytest.raises(ValueError, match="label at least"):
            fold_assignment(y, n_folds, seed)
        return
    fold = fold_assignment(y, n_folds, seed)
    assert fold.min() >= 0 and fold.max() < n_folds
    sizes = np.bincount(fold, minlength=n_folds)
    assert sizes.max() - sizes.min() <= 1  # every fold gets its share
    for c in np.unique(y):
        per = np.bincount(fold[y == c], minlength=n_folds)
        assert per.max() - per.min() <= 1  # and its share of each class
    np.testing.assert_array_equal(fold, fold_assignment(y, n_folds, seed))


def test_out_of_sample_probs_never_predict_an_item_from_its_own_label():
    y = np.array([0, 1, 2] * 10)
    calls = []

    def fit_predict(train, y_train, test):
        assert not set(train) & set(test)
        calls.append(test)
        # a "model" that predicts the class frequencies of its training labels
        p = np.bincount(y_train, minlength=3).astype(float) + 1
        return np.tile(p / p.sum(), (len(test), 1))

    probs = out_of_sample_probs(y, fit_predict, 3, n_folds=5, seed=0)
    assert sorted(np.concatenate(calls).tolist()) == list(range(30))  # each item predicted exactly once
    np.testing.assert_allclose(probs.sum(1), 1)
    # held-out fold of 2 per class: training counts 8, 8, 8 -> uniform
    np.testing.assert_allclose(probs, 1 / 3)


def test_out_of_sample_probs_checks_the_fitter():
    with pytest.raises(ValueError, match="expected"):
        out_of_sample_probs(np.array([0, 1] * 5), lambda tr, yt, te: np.ones((len(te), 3)), 2, n_folds=2)


def _flipped_probs():
    """40 items of 3 classes; the model is sure of the truth; items 0, 1 and 2 carry a wrong label."""
    truth = np.array([0, 1, 2, 1] * 10)
    probs = np.full((40, 3), 0.05)
    probs[np.arange(40), truth] = 0.9
    labels = truth.copy()
    labels[[0, 1, 2]] = [1, 2, 0]
    return labels, probs


def test_the_flipped_labels_rank_first_and_are_flagged():
    labels, probs = _flipped_probs()
    order, quality, flagged = rank_label_issues(labels, probs)
    assert set(order[:3]) == {0, 1, 2}
    np.testing.assert_allclose(quality, probs[np.arange(40), labels])  # self-confidence: p(given label)
    assert set(np.flatnonzero(flagged)) == {0, 1, 2}
    assert list(order[:3]) == [0, 1, 2]  # ties: lower position first


def test_the_ranking_is_cleanlabs():
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=200)
    labels = rng.integers(0, 4, 200)
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        order, quality, flagged = rank_label_issues(labels, probs, method=method)
        np.testing.assert_allclose(quality, get_label_quality_scores(labels, probs + 1e-12 / 1, method=method),
                                   atol=1e-9)
        normed = (probs + 1e-12) / (probs + 1e-12).sum(1, keepdims=True)
        # n_jobs=1: a forked pool can hang when an earlier test left threads behind (as the product does)
        np.testing.assert_array_equal(flagged, find_label_issues(labels, normed, n_jobs=1))
        assert np.all(np.diff(quality[order]) >= 0)


def test_classes_nobody_used_are_dropped_before_cleanlab():
    labels, probs = _flipped_probs()
    wide = np.concatenate([probs * 0.9, np.full((40, 2), 0.05)], 1)  # two more classes, never given
    order, quality, flagged = rank_label_issues(labels, wide)
    assert set(np.flatnonzero(flagged)) == {0, 1, 2} and set(order[:3]) == {0, 1, 2}


def test_one_class_only_is_refused_and_nothing_is_fine():
    with pytest.raises(ValueError, match="at least two classes"):
        rank_label_issues(np.zeros(5, int), np.tile([0.9, 0.1], (5, 1)))
    order, quality, flagged = rank_label_issues(np.zeros(0, int), np.zeros((0, 2)))
    assert len(order) == len(quality) == len(flagged) == 0
    with pytest.raises(ValueError, match="method"):
        rank_label_issues(*_flipped_probs(), method="vibes")


def test_a_label_check_is_a_ranked_sequence():
    issues = [LabelIssue("b", "cat", "dog", 0.9, 0.1, 0.8, "train", True),
              LabelIssue("a", "dog", "dog", 0.2, 0.8, 0.8, "validation", False)]
    check = LabelCheck(issues, n_checked=10, n_folds=5, seconds=1.25)
    assert len(check) == 2 and check[0].item_id == "b" and check.ids == ["b", "a"]
    assert [i.item_id for i in check.flagged] == ["b"]
    assert check.summary() == "1 of 10 labels look wrong (5-fold check, 1.2 s)"
    assert LabelCheck().summary() == "no labels to check"


def test_label_issues_of_orders_names_and_leaves_out_the_reviewed():
    from alwidget.trust.label_issues import label_issues_of

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95]])
    y = np.array([0, 0, 1, 1])  # self-confidence 0.9, 0.2, 0.4, 0.95: items b, c most suspicious
    issues = label_issues_of(["a", "b", "c", "d"], y, probs, ["cat", "dog"], ["train", "validation", "train", "train"],
                             [False, False, True, False])
    assert [i.item_id for i in issues] == ["b", "a", "d"]  # c was reviewed
    b = issues[0]
    assert (b.label, b.suggestion, b.split) == ("cat", "dog", "validation")
    assert b.probability == pytest.approx(0.2) and b.suggestion_probability == pytest.approx(0.8)
    assert b.score == pytest.approx(0.8)  # 1 - self-confidence
    every = label_issues_of(["a", "b", "c", "d"], y, probs, ["cat", "dog"], ["train"] * 4, [False, False, True, False],
                            include_reviewed=True)
    assert [i.item_id for i in every] == ["b", "c", "a", "d"]


@pytest.mark.parametrize("y, folds, message", [
    ([], 5, "no labels yet"), ([1, 1, 1], 2, "all 3 labels are 'dog'"), ([0, 1], 1, "at least 2"),
    ([0, 1, 1], 5, r"3 labels cannot be split into 5 folds: .*n_folds=3")])
def test_check_inputs_refuses_what_cannot_be_checked(y, folds, message):
    from alwidget.trust.label_issues import check_inputs

    with pytest.raises(ValueError, match=message):
        check_inputs(np.array(y, dtype=np.int64), folds, ["cat", "dog"])


def test_check_inputs_notes_classes_with_fewer_labels_than_folds():
    from alwidget.trust.label_issues import check_inputs

    assert check_inputs(np.array([0] * 5 + [1] * 5), 5, ["cat", "dog"]) == []
    (note,) = check_inputs(np.array([0] * 5 + [1] * 2), 5, ["cat", "dog", "eel"])
    assert note.startswith("fewer labels than folds in 'dog':")
