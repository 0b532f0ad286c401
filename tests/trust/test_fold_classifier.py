"""fast_cycle_fit_predict: each fold's classifier is the fast cycle's, trained without the fold."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

import alwidget.trust.fold_classifier as module
from alwidget.model.head import fit_head_predict
from alwidget.model.train import TrainConfig
from alwidget.semi import knn_graph
from alwidget.trust.fold_classifier import fast_cycle_fit_predict
from alwidget.trust.label_issues import out_of_sample_probs
from alwidget.uncertainty import create_estimator

CFG = TrainConfig(max_steps=120, batch_size=32)


def _digits():
    x, y = load_digits(return_X_y=True)
    f = PCA(16, random_state=0).fit_transform(x[:500]).astype(np.float32)
    f = (f - f.mean(0)) / f.std(0)
    return torch.from_numpy(f), y[:500]


def test_without_a_graph_a_fold_is_the_plain_head_with_its_seed():
    feats, y = _digits()
    pos = np.arange(0, 500, 5)  # 100 labelled items
    est = create_estimator("softmax")
    fp = fast_cycle_fit_predict(feats, pos, 10, estimator=est, config=CFG, n_samples=1, seed=lambda f: 100 + f)
    train, test = np.arange(0, 100, 2), np.arange(1, 100, 2)
    got = fp(train, y[pos[train]], test)
    want = fit_head_predict(feats, pos[train], y[pos[train]], pos[test], est, 10, CFG, n_samples=1, seed=101)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_the_graphs_pseudo_labels_join_the_fold_and_never_name_a_labelled_item(monkeypatch):
    feats, y = _digits()
    pos = np.arange(0, 500, 10)  # 50 labels
    graph = knn_graph(feats.numpy(), k=10)
    unlabelled = np.ones(500, dtype=bool)
    unlabelled[:5] = False  # e.g. the validation set
    fitted = []
    real = module.fit_head_predict
    monkeypatch.setattr(module, "fit_head_predict", lambda f, p, yy, *a, **k: fitted.append((p, yy)) or real(
        f, p, yy, *a, **k))
    fp = fast_cycle_fit_predict(feats, pos, 10, estimator=create_estimator("softmax"), config=CFG, n_samples=1,
                                seed=lambda f: f, graph=graph, unlabelled_N=unlabelled, pseudo_fraction=0.5)
    probs = out_of_sample_probs(y[pos], fp, 10, n_folds=5, seed=0)
    assert len(fitted) == 5
    held_out = []
    for p, yy in fitted:
        labelled = np.isin(p, pos)
        assert len(set(p[labelled].tolist())) == 40  # the fold's 40 training labels (repeated to weigh as much)
        held_out.append(set(pos.tolist()) - set(p[labelled].tolist()))
        extra, y_extra = p[~labelled], yy[~labelled]  # the pseudo-labels: no labelled or validation item
        assert len(extra) > 100 and not set(extra.tolist()) & set(range(5))
        assert (y_extra == y[extra]).mean() > 0.8  # the graph's confident half is mostly right
    assert set().union(*held_out) == set(pos.tolist()) and sum(map(len, held_out)) == 50  # each label held out once
    assert (probs.argmax(1) == y[pos]).mean() >= 0.85  # each label judged by a model that never saw it (0.90 here)
    assert unlabelled[:5].sum() == 0 and unlabelled[5:].all()  # the caller's mask is not changed
