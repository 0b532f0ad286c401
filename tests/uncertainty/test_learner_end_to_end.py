"""Each new estimator through the real learner: teach 30 labels, retrain, query with a
strategy that reads the estimator's output (both training modes).

The images are scikit-learn's 8×8 digits at their native size (``image_size=8``) so that a
40-step cycle takes well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from alwidget import Backbone, datasets
from alwidget.learner import ActiveLearner
from alwidget.uncertainty import create_estimator

CASES = [
    ("ensemble", "vote_entropy"),
    ("ensemble", "bald"),
    ("ensemble", "consensus_kl"),
    ("evidential", "edl_vacuity"),
    ("laplace", "bald"),
    ("laplace", "entropy"),
]


@pytest.fixture(scope="module")
def digits_300():
    pool = datasets.digits()
    return pool.subset(pool.ids[:300])


@pytest.mark.filterwarnings("ignore:labels live in memory only")
@pytest.mark.parametrize("mode", ["finetune", "embed"])
@pytest.mark.parametrize("estimator, strategy", CASES)
def test_teach_retrain_query(estimator, strategy, mode, digits_300):
    pool = digits_300
    learner = ActiveLearner(pool, strategy=strategy, uncertainty=create_estimator(estimator, n_samples=8),
                            validation_from_truth=True,
                            train={"max_steps": 40}, mode=mode, backbone=Backbone(image_size=8), seed=0)
    try:
        first = learner.query(30)
        learner.teach(first, [pool.truth[i] for i in first], source="oracle")
        report = learner.retrain()
        assert report.error is None and report.n_labels == 30 and report.estimator == estimator
        assert 0.0 <= report.accuracy <= 1.0
        picked = learner.query(5)
        assert len(picked) == len(set(picked)) == 5
        assert not set(picked) & (set(first) | set(learner.validation_ids))
        est = learner._model.estimate
        n, c = len(pool), 10
        assert est.probs_N_C.shape == (n, c) and np.allclose(est.probs_N_C.sum(1), 1, atol=1e-5)
        if estimator == "ensemble":
            assert est.samples_T_N_C.shape == (5, n, c)  # T = K members, not mc_samples
        if estimator == "laplace":
            assert est.samples_T_N_C.shape == (8, n, c)
        if estimator == "evidential":
            assert est.alpha_N_C.shape == (n, c) and (est.alpha_N_C >= 1).all()
        scores = learner.scores
        assert np.all(np.isfinite(scores))
        # the queried items are the top scores among the selectable ones
        pos = [pool.ids.index(i) for i in picked]
        selectable = np.ones(n, bool)
        selectable[[pool.ids.index(i) for i in list(first) + learner.validation_ids]] = False
        assert scores[pos].min() >= np.sort(scores[selectable])[-5] - 1e-12
    finally:
        learner.close()


@pytest.mark.filterwarnings("ignore:labels live in memory only")
@pytest.mark.parametrize("estimator", ["ensemble", "evidential", "laplace"])
def test_saved_model_scores_the_same_after_loading(estimator, digits_300, tmp_path):
    """The checkpoint holds the whole head (a Laplace head's posterior buffers included)."""
    pool = digits_300
    learner = ActiveLearner(pool, strategy="entropy", uncertainty=create_estimator(estimator, n_samples=4),
                            validation_from_truth=True,
                            train={"max_steps": 20}, mode="finetune", backbone=Backbone(image_size=8), seed=1)
    try:
        first = learner.query(30)
        learner.teach(first, [pool.truth[i] for i in first], source="oracle")
        learner.retrain()
        before = learner._model.estimate.probs_N_C.copy()
        learner.save_model(tmp_path / "model.pt")
        learner.load_model(tmp_path / "model.pt")
        np.testing.assert_allclose(learner._model.estimate.probs_N_C, before, atol=1e-5)
    finally:
        learner.close()
