"""The contract every registered estimator meets (parametrised over ``available_estimators()``).

Each estimator's head is trained with the real training loop on three separable Gaussian
blobs (``D = 8``), then its posterior is checked: normalised, shaped as documented,
reproducible, more uncertain away from the data, and its config round-trips.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alwidget.report import normalized_entropy
from alwidget.uncertainty import UncertaintyEstimator, available_estimators, create_estimator

ESTIMATORS = available_estimators()
T = 16


def test_all_five_are_registered():
    assert set(ESTIMATORS) >= {"softmax", "mc_dropout", "ensemble", "evidential", "laplace"}


def _posterior(est, head, x, n_samples=T, seed=0):
    return est.posterior(head, x, n_samples=n_samples, generator=torch.Generator().manual_seed(seed))


def _expected_t(est: UncertaintyEstimator, n_samples: int) -> int:
    # an ensemble's posterior is its committee: T = K whatever n_samples is
    return int(est.config()["k"]) if est.name == "ensemble" else n_samples


def _uncertainty(post) -> np.ndarray:
    """Vacuity for Dirichlet heads, normalised predictive entropy otherwise."""
    if post.alpha_N_C is not None:
        alpha = post.alpha_N_C.numpy().astype(np.float64)
        return alpha.shape[1] / alpha.sum(1)
    return normalized_entropy(post.probs_N_C.numpy())


@pytest.mark.parametrize("name", ESTIMATORS)
def test_short_fit_separates_the_blobs(name, trained, blobs):
    est, head = trained[name]
    probs = est.predict_proba(head, blobs.x_N_D)
    assert (probs.argmax(1) == blobs.y_N).float().mean().item() > 0.9
    post = _posterior(est, head, blobs.x_N_D)
    assert (post.probs_N_C.argmax(1) == blobs.y_N).float().mean().item() > 0.9


@pytest.mark.parametrize("name", ESTIMATORS)
def test_posterior_is_normalised_and_shaped_as_documented(name, trained, blobs):
    est, head = trained[name]
    n, c = blobs.x_N_D.shape[0], int(blobs.y_N.max()) + 1
    post = _posterior(est, head, blobs.x_N_D)
    assert post.probs_N_C.shape == (n, c) and post.probs_N_C.dtype == torch.float32
    assert torch.isfinite(post.probs_N_C).all() and (post.probs_N_C >= 0).all()
    assert torch.allclose(post.probs_N_C.sum(1), torch.ones(n), atol=1e-5)
    if "samples" in est.produces:
        s = post.samples_T_N_C
        assert s is not None and s.dtype == torch.float32
        assert s.shape == (_expected_t(est, T), n, c)
        assert torch.isfinite(s).all() and (s >= 0).all()
        assert torch.allclose(s.sum(-1), torch.ones(s.shape[:2]), atol=1e-5)
    else:
        assert post.samples_T_N_C is None
    if "alpha" in est.produces:
        assert post.alpha_N_C is not None and post.alpha_N_C.shape == (n, c)
        assert (post.alpha_N_C >= 1).all()
    else:
        assert post.alpha_N_C is None


@pytest.mark.parametrize("name", ESTIMATORS)
def test_empty_pool(name, trained, blobs):
    est, head = trained[name]
    c = int(blobs.y_N.max()) + 1
    post = _posterior(est, head, blobs.x_N_D[:0])
    assert post.probs_N_C.shape == (0, c)
    if post.samples_T_N_C is not None:
        assert post.samples_T_N_C.shape == (_expected_t(est, T), 0, c)
    if post.alpha_N_C is not None:
        assert post.alpha_N_C.shape == (0, c)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_same_seed_same_posterior(name, trained, blobs, head_trainer):
    est, head = trained[name]
    a, b = _posterior(est, head, blobs.x_N_D, seed=7), _posterior(est, head, blobs.x_N_D, seed=7)
    assert torch.equal(a.probs_N_C, b.probs_N_C)
    for field in ("samples_T_N_C", "alpha_N_C"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or torch.equal(x, y)
    # the whole pipeline — initialisation, training, posterior fit, sampling — from the same seeds
    est2 = create_estimator(name, **est.config())
    head2, _ = head_trainer(est2, blobs)
    c = _posterior(est2, head2, blobs.x_N_D, seed=7)
    assert torch.equal(a.probs_N_C, c.probs_N_C)
    if a.samples_T_N_C is not None:
        assert torch.equal(a.samples_T_N_C, c.samples_T_N_C)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_more_uncertain_far_from_the_data(name, trained, blobs):
    est, head = trained[name]
    u_centres = _uncertainty(_posterior(est, head, blobs.centres_C_D))
    u_far = _uncertainty(_posterior(est, head, blobs.far_M_D))
    assert u_far.mean() > u_centres.mean() + 0.1, (u_centres, u_far)
    assert np.median(u_far) > u_centres.max()


@pytest.mark.parametrize("name", ESTIMATORS)
def test_config_round_trips(name, trained):
    est, _ = trained[name]
    cfg = est.config()
    again = create_estimator(name, **json.loads(json.dumps(cfg)))  # checkpoints keep it as JSON
    assert type(again) is type(est) and again.config() == cfg
    assert again.name == name and repr(again) == repr(est)
    assert create_estimator(est) is est


@pytest.mark.parametrize("name", ESTIMATORS)
def test_validation_logits_match_the_head(name, trained, blobs):
    """What the learner's validation loss sees: ``logits(head_out)`` if defined, else the output."""
    est, head = trained[name]
    head.eval()
    with torch.no_grad():
        out = head(blobs.x_N_D)
        to_logits = getattr(est, "logits", None)
        logits = to_logits(out) if callable(to_logits) else out
        assert logits.shape == (len(blobs.x_N_D), 3)
        loss = F.cross_entropy(logits, blobs.y_N)
        assert math.isfinite(float(loss)) and float(loss) < 0.5 * math.log(3)
        if callable(to_logits):
            assert torch.allclose(torch.softmax(logits, -1), est.predict_proba(head, blobs.x_N_D), atol=1e-5)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_loss_is_a_differentiable_scalar_and_unit_class_weights_change_nothing(name, blobs):
    torch.manual_seed(0)
    est = create_estimator(name)
    head = est.build_head(8, 3)
    head.eval()  # no dropout: two calls see the same outputs
    out = head(blobs.x_N_D[:12])
    y = blobs.y_N[:12]
    plain = est.loss(out, y, progress=0.3)
    weighted = est.loss(out, y, weight_C=torch.ones(3), progress=0.3)
    assert plain.shape == () and torch.isfinite(plain)
    assert torch.allclose(plain, weighted)
    plain.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())


@pytest.mark.parametrize("name", ESTIMATORS)
def test_unknown_parameters_are_rejected(name):
    with pytest.raises(TypeError, match=name):
        create_estimator(name, no_such_parameter=1)
