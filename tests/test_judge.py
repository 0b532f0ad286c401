"""RepresentationJudge: the labels' choice among candidates, its reuse, its deferral, the graphs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import alwidget.judge as judge_module
from alwidget.judge import REJUDGE_GROWTH, RepresentationJudge
from alwidget.representation import Representation


def _rep(x: np.ndarray) -> Representation:
    t = torch.as_tensor(x, dtype=torch.float32)
    return Representation(nn.Identity(), t, nn.Identity(), t)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x, y = x[:600], y[:600]
    noise = np.random.default_rng(0).normal(size=(600, 16))
    return {"pixels": _rep(x), "noise": _rep(noise)}, y


def _judge(reps):
    return RepresentationJudge(10, propagation="poisson", seed=0, alive=lambda: reps, lock=threading.RLock())


def _labels(y, n, seed=0):
    pos = np.random.default_rng(seed).choice(len(y), n, replace=False)
    return pos, y[pos]


def test_the_labels_choose_the_clearly_better_candidate_and_keep_it_until_they_grow(digits, monkeypatch):
    reps, y = digits
    judge = _judge(reps)
    order = {"noise": reps["noise"], "pixels": reps["pixels"]}  # the worse one preferred on a tie
    pos, yl = _labels(y, 120)
    choice = judge.judge(order, pos, yl, None, n_items=600, inline=True, prior_C=None)
    assert choice.name == "pixels" and choice.scores["pixels graph"] > choice.scores["noise graph"] + 0.5
    calls = []
    real = judge_module.choose_representation
    monkeypatch.setattr(judge_module, "choose_representation", lambda *a, **k: calls.append(1) or real(*a, **k))
    grown = int(120 * REJUDGE_GROWTH) - 1  # not enough new labels: the same choice, no new judgement
    pos2, y2 = _labels(y, grown, seed=1)
    assert judge.judge(order, pos2, y2, None, n_items=600, inline=True, prior_C=None) is choice and calls == []
    pos3, y3 = _labels(y, int(120 * REJUDGE_GROWTH) + 1, seed=2)
    judge.judge(order, pos3, y3, None, n_items=600, inline=True, prior_C=None)
    assert calls == [1]


def test_a_large_pool_is_judged_after_the_cycle_on_its_own_thread(digits, monkeypatch):
    reps, y = digits
    monkeypatch.setattr(judge_module, "JUDGE_INLINE_UP_TO", 100)
    judge = _judge(reps)
    order = {"noise": reps["noise"], "pixels": reps["pixels"]}
    pos, yl = _labels(y, 120)
    first = judge.judge(order, pos, yl, None, n_items=600, inline=False, prior_C=None)
    assert first.provisional and first.name == "noise" and judge.thread is None  # the cycle goes on at once
    judge.start_due()
    judge.join(60)
    assert not judge.thread.is_alive()
    second = judge.judge(order, pos, yl, None, n_items=600, inline=False, prior_C=None)
    assert second.name == "pixels" and not second.provisional
    judge.start_due()  # nothing due: no new thread
    assert not judge.thread.is_alive()


def test_one_graph_per_representation_and_only_for_candidates(digits, monkeypatch):
    reps, _ = digits
    alive = dict(reps)
    judge = RepresentationJudge(10, propagation="poisson", seed=0, alive=lambda: alive, lock=threading.RLock())
    built = []
    real = judge_module.knn_graph
    monkeypatch.setattr(judge_module, "knn_graph", lambda *a, **k: built.append(1) or real(*a, **k))
    g = judge.graph(reps["pixels"], 600)
    assert judge.graph(reps["pixels"], 600) is g and built == [1]
    judge.ahead(reps["noise"], 600)
    assert built == [1, 1] and "_poisson" in judge.graphs[id(reps["noise"])][1].__dict__
    del alive["noise"]  # no longer a candidate: its graph goes when the next one is built
    judge.graph(_rep(np.eye(600, 8)), 600)
    assert id(reps["noise"]) not in judge.graphs and id(reps["pixels"]) in judge.graphs
    assert judge.graph(reps["pixels"], 3) is None  # fewer than 4 items: no graph


def test_the_graphs_a_learner_keeps_are_counted_in_its_memory_plan(small_pool, learners):
    from alwidget.data.budget import GRAPH_BYTES_PER_ITEM
    from alwidget.recipes.candidates import graphs_kept

    assert [graphs_kept(r, False) for r in ("pca", "contrastive", "frozen", "auto")] == [1, 2, 2, 3]
    assert graphs_kept("auto", True) == 5 and graphs_kept("pretrained", True) == 2
    with pytest.raises(ValueError, match="unknown representation"):
        graphs_kept("vae", False)
    plans = {}
    for mode, rep in (("embed", "auto"), ("semi", "pca"), ("semi", "auto")):
        settings = {} if mode == "embed" else dict(representation=rep, representation_config={"steps": 5})
        learner = learners(small_pool, dict(mode=mode, image_size=16, **settings))
        plans[mode, rep] = learner.memory_plan.fixed_bytes
        learner.close()
    n = len(small_pool)
    assert plans["semi", "pca"] - plans["embed", "auto"] == n * GRAPH_BYTES_PER_ITEM
    assert plans["semi", "auto"] - plans["embed", "auto"] == 3 * n * GRAPH_BYTES_PER_ITEM  # offline: no weights
    # a budget below what always stays in memory is said at once, with what to do
    from alwidget import ActiveLearner, Backbone

    with pytest.warns(UserWarning, match=r"over the limit: .*Raise memory_limit") as said:
        over = ActiveLearner(small_pool, mode="semi", representation="pca", backbone=Backbone(image_size=16),
                             memory_limit="700.1MB")
    assert over.memory_plan.over_budget
    over_limit = [w for w in said if "over the limit" in str(w.message)]
    assert over_limit[0].filename == __file__  # said at the line that made the learner
    over.close()


def test_adapted_features_are_judged_without_near_copies_of_training_labels():
    """With the adapted pretrained features among the candidates, the judge scores every candidate
    on the validation labels that are not near-copies of a training label (in the frozen pretrained
    features); without them, or with the filter off, on all of them."""
    rng = np.random.default_rng(0)
    x, y = load_digits(return_X_y=True)
    x, y = x[:260] + rng.normal(scale=2.0, size=(260, 64)), y[:260]
    val, train = np.arange(0, 100), np.arange(100, 160)
    x[160:220] = x[0:60] + rng.normal(scale=0.5, size=(60, 64))  # training labels: near-copies of validation 0..59
    pos = np.r_[val, train, np.arange(160, 220)]
    ylab = np.r_[y[val], y[train], y[0:60]]
    scored = np.r_[np.ones(100, bool), np.zeros(120, bool)]
    adapted = {"pretrained": _rep(x), "pretrained+adapted": _rep(x[:, ::-1].copy())}
    fair = _judge(adapted).now(adapted, pos, ylab, scored, n_items=260, prior_C=None)
    assert "on 40 validation labels" in fair.reason and "60 validation labels left out as near-copies" in fair.reason
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(judge_module, "NEAR_COPY_FILTER", False)
        off = _judge(adapted).now(adapted, pos, ylab, scored, n_items=260, prior_C=None)
    assert "on 100 validation labels" in off.reason and "near-copies" not in off.reason
    plain = {"pretrained": _rep(x), "pixels": _rep(x[:, ::-1].copy())}  # nothing trained on the labels
    assert "on 100 validation labels" in _judge(plain).now(plain, pos, ylab, scored, n_items=260, prior_C=None).reason


def test_a_judge_holding_fewer_graphs_than_candidates_judges_the_others_linear_only(digits):
    """``max_graphs`` (the memory plan's): the first candidates to ask keep a graph while they are
    candidates; the others get none and are judged, and used, with the linear classifier only; a
    graph of a candidate that is gone frees its place."""
    reps, y = digits
    alive = dict(reps)
    judge = RepresentationJudge(10, propagation="poisson", seed=0, alive=lambda: alive, lock=threading.RLock(),
                                max_graphs=1)
    assert judge.graph(reps["pixels"], 600) is not None and id(reps["pixels"]) in judge.graphs
    assert judge.graph(reps["noise"], 600) is None and id(reps["noise"]) not in judge.graphs
    pos, yl = _labels(y, 60)
    choice = judge.now(reps, pos, yl, None, n_items=600, prior_C=None)
    assert set(choice.scores) == {"pixels graph", "pixels linear", "noise linear"}
    assert choice.name == "pixels" and "no kNN graph for noise within memory_limit (1 held)" in choice.reason
    del alive["pixels"]  # no longer a candidate: its place goes to the next graph asked for
    assert judge.graph(reps["noise"], 600) is not None and len(judge.graphs) == 1
    with pytest.raises(ValueError, match="max_graphs"):
        RepresentationJudge(10, propagation="poisson", seed=0, alive=dict, lock=threading.RLock(), max_graphs=-1)

    none = RepresentationJudge(10, propagation="poisson", seed=0, alive=lambda: reps, lock=threading.RLock(),
                               max_graphs=0)
    choice = none.now(reps, pos, yl, None, n_items=600, prior_C=None)
    assert set(choice.scores) == {"pixels linear", "noise linear"} and choice.classifier == "linear"
    assert choice.name == "pixels" and none.graphs == {}
    single = none.now({"pixels": reps["pixels"]}, pos, yl, None, n_items=600, prior_C=None)
    assert single.name == "pixels" and none.graphs == {}
