"""The labels choose the representation: cross-validated accuracy of the graph classifier on a
case built so that one candidate is clearly better, and the rules for ties, margins and few labels."""

from __future__ import annotations

import numpy as np
import pytest

from alwidget.semi import knn_graph
from alwidget.semi.choice import MIN_LABELS_TO_JUDGE, choose_representation, cross_validated_accuracy


@pytest.fixture(scope="module")
def case():
    """400 items of 4 classes: ``good`` features are tight class clusters, ``noise`` features are
    random (chance is 25 %)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 100)
    centres = rng.normal(size=(4, 16)) * 4
    good = centres[y] + rng.normal(size=(400, 16))
    noise = rng.normal(size=(400, 16))
    labeled = rng.choice(400, 60, replace=False)
    return dict(y=y, labeled=labeled, good=knn_graph(good, k=10), noise=knn_graph(noise, k=10))


def test_cross_validated_accuracy_separates_good_from_noise(case):
    y, lab = case["y"], case["labeled"]
    good = cross_validated_accuracy(case["good"], lab, y[lab], 4, seed=1)
    noise = cross_validated_accuracy(case["noise"], lab, y[lab], 4, seed=1)
    assert good >= 0.95
    assert noise <= 0.5  # chance is 0.25; 60 labels leave room for luck, not for structure


def test_the_labels_choose_the_better_candidate_whatever_the_order(case):
    y, lab = case["y"], case["labeled"]
    graphs = {"noise": case["noise"], "good": case["good"]}
    choice = choose_representation(graphs, lab, y[lab], 4, order=["noise", "good"])
    assert choice.name == "good"
    assert set(choice.scores) == {"noise graph", "good graph"}
    assert choice.scores["good graph"] > choice.scores["noise graph"] + 0.4
    assert choice.classifier == "graph"
    assert "good" in choice.reason and "noise" in choice.reason and "5-fold" in choice.reason
    # the representation in use is switched away from when another is clearly better
    assert choose_representation(graphs, lab, y[lab], 4, order=["noise", "good"],
                                 current="noise graph").name == "good"


def test_within_the_margin_the_current_one_is_kept(case):
    y, lab = case["y"], case["labeled"]
    same = {"a": case["good"], "b": case["good"]}
    assert choose_representation(same, lab, y[lab], 4, order=["a", "b"]).name == "a"  # a tie: the order
    kept = choose_representation(same, lab, y[lab], 4, order=["a", "b"], current="b graph")
    assert kept.name == "b" and "kept" in kept.reason


def test_too_few_labels_take_the_order(case):
    y = case["y"]
    lab = case["labeled"][: MIN_LABELS_TO_JUDGE - 1]
    choice = choose_representation({"noise": case["noise"], "good": case["good"]}, lab, y[lab], 4,
                                   order=["noise", "good"])
    assert choice.name == "noise" and choice.scores == {} and "too few" in choice.reason


def test_a_single_candidate_needs_no_judgement(case):
    choice = choose_representation({"good": case["good"]}, case["labeled"], case["y"][case["labeled"]], 4,
                                   order=["good"])
    assert choice.name == "good" and "only representation" in choice.reason


def test_a_linear_probe_wins_where_neighbours_cross_the_classes():
    """Classes a linear boundary separates but whose nearest neighbours belong to other classes
    (two classes interleaved along a line, split by a second coordinate that is small against
    noise the neighbours see): the linear probe beats the graph, and the choice says so."""
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    x = np.c_[(2 * y - 1) * 0.6 + rng.normal(0, 0.1, n), rng.normal(0, 3, (n, 8))]  # 1 informative, 8 loud
    graph = knn_graph(x, k=10)
    lab = rng.choice(n, 80, replace=False)
    choice = choose_representation({"x": graph}, lab, y[lab], 2, order=["x"], features={"x": x})
    assert set(choice.scores) == {"x graph", "x linear"}
    assert choice.classifier == "linear" and choice.scores["x linear"] > choice.scores["x graph"] + 0.15, choice.scores
    assert choice.reason.startswith("x linear: best 5-fold accuracy")


def test_scored_labels_are_the_only_ones_held_out(case):
    """With ``scored_L`` only those labels are held out: a perfect graph scores 1 on them."""
    y, lab = case["y"], case["labeled"]
    scored = np.zeros(len(lab), dtype=bool)
    scored[:20] = True
    acc = cross_validated_accuracy(case["good"], lab, y[lab], 4, scored_L=scored)
    assert acc >= 0.95
    with pytest.raises(ValueError, match="two scored labels"):
        cross_validated_accuracy(case["good"], lab, y[lab], 4, scored_L=np.eye(1, len(lab), dtype=bool)[0])


def test_the_judgement_solves_tighter_than_the_fast_cycle(case, monkeypatch):
    """The judgement's Poisson solves stop at JUDGE_TOL (1e-5), the fast cycle's propagation at
    PROPAGATION_TOL (1e-3): every solve the judgement makes asks for 1e-5."""
    from alwidget.semi import poisson as P
    from alwidget.semi.choice import JUDGE_TOL
    from alwidget.semi.propagate import PROPAGATION_TOL, propagate

    asked = []
    real = P.PoissonSystem.solve_many

    def spy(self, problems, n_classes, *, tol=1e-5, max_iter=1000):
        asked.append((len(problems), tol))
        return real(self, problems, n_classes, tol=tol, max_iter=max_iter)

    monkeypatch.setattr(P.PoissonSystem, "solve_many", spy)
    y, lab = case["y"], case["labeled"]
    choose_representation({"noise": case["noise"], "good": case["good"]}, lab, y[lab], 4, order=["noise", "good"])
    assert JUDGE_TOL == 1e-5 and len(asked) == 2 and all(t == JUDGE_TOL for _, t in asked)
    assert asked[0][0] == 5  # the folds of one candidate in one call
    asked.clear()
    propagate(case["good"], lab, y[lab], 4)
    assert asked == [(1, PROPAGATION_TOL)]


def test_another_candidate_needs_two_standard_errors_a_successor_one():
    """By hand: 100 held-out labels, the challenger right where the incumbent is wrong on 7, the
    reverse on 3. Mean paired difference 0.04; its standard error sqrt(9.84 / 99) / 10 = 0.03153:
    more than one standard error, less than two."""
    from alwidget.semi.choice import SUCCESSOR_SE, SWITCH_SE, beats_incumbent

    assert (SWITCH_SE, SUCCESSOR_SE) == (2.0, 1.0)
    incumbent = np.ones(100, dtype=bool)
    incumbent[:7] = False
    challenger = np.ones(100, dtype=bool)
    challenger[7:10] = False
    switch, gain, bar = beats_incumbent("pca graph", "contrastive+refined linear", challenger, incumbent)
    assert not switch and gain == pytest.approx(0.04) and bar == pytest.approx(2 * 0.0315270, abs=1e-6)
    for successor in ("contrastive+refined linear", "contrastive graph"):  # its slow cycle's result, its other classifier
        switch, gain, bar = beats_incumbent(successor, "contrastive linear", challenger, incumbent)
        assert switch and bar == pytest.approx(0.0315270, abs=1e-6)
    switch, _, bar = beats_incumbent("pretrained+adapted linear", "pretrained linear", challenger, incumbent,
                                     margin=0.05)
    assert not switch and bar == 0.05  # the margin holds when the noise is smaller


def test_near_copies_of_training_labels_are_not_scored():
    """Validation labels within cosine 0.95 of a training label are left out (hand-made vectors)."""
    from alwidget.semi.choice import without_near_copies

    rng = np.random.default_rng(0)
    n_val = 40
    feats = rng.normal(size=(n_val + 3, 8))
    feats[n_val:] = feats[:3] * 2.0 + 0.01  # three training labels: scaled near-copies of validation items 0-2
    pos = np.arange(n_val + 3)
    scored = np.r_[np.ones(n_val, bool), np.zeros(3, bool)]
    kept, dropped = without_near_copies(scored, pos, feats)
    assert dropped == 3 and kept[:3].tolist() == [False] * 3 and kept[3:n_val].all() and not kept[n_val:].any()
    # the caller's mask is not changed; below the floor of scored labels, nothing is dropped
    assert scored[:n_val].all()
    few = scored.copy()
    few[20:n_val] = False  # 20 scored: dropping 3 would leave 17 < 30
    assert without_near_copies(few, pos, feats)[1] == 0
    assert without_near_copies(None, pos, feats) == (None, 0)
    assert without_near_copies(np.ones(n_val + 3, bool), pos, feats)[1] == 0  # no training labels
    assert without_near_copies(scored, pos, feats, cos=1.01)[1] == 0
