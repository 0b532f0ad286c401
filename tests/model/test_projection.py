"""The projection of wide frozen features (:class:`~alwidget.model.features.StandardizeProject`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget.model.features import Standardize, StandardizeProject, norm_from_state


def _features(n: int, d: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    # a few strong directions and per-dimension scales that differ by 100x
    latent = rng.normal(size=(n, 4)) * np.array([10.0, 5.0, 2.0, 1.0])
    x = latent @ rng.normal(size=(4, d)) + 0.1 * rng.normal(size=(n, d))
    return torch.from_numpy((x * rng.uniform(0.1, 10.0, size=d) + 3.0).astype(np.float32))


def test_matches_the_principal_components_of_the_standardised_features():
    x = _features(300, 40, 0)
    proj = StandardizeProject.fit(x, 6, seed=0)
    z = proj(x).numpy()
    # reference: numpy's SVD of the standardised features
    xs = ((x - x.mean(0)) / x.std(0, unbiased=False)).numpy().astype(np.float64)
    _, s, vt = np.linalg.svd(xs - xs.mean(0), full_matrices=False)
    ref = xs @ vt[:6].T
    for j in range(6):  # each direction up to its sign
        assert abs(np.corrcoef(z[:, j], ref[:, j])[0, 1]) > 0.999
    # one scale for all directions: their variances keep their order and ratios, and average 1
    var = z.var(0, ddof=1)
    np.testing.assert_allclose(var.mean(), 1.0, rtol=1e-3)
    np.testing.assert_allclose(var / var[0], (s[:6] ** 2) / s[0] ** 2, rtol=1e-2)
    assert proj.out_features == 6 and z.shape == (300, 6)


def test_keeps_what_a_linear_model_needs_from_the_leading_directions():
    """Classes that differ along a direction shared by ten of the 40 dimensions (the strongest one
    once each dimension is standardised) stay separable after projecting 40 -> 4."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    x = rng.normal(size=(400, 40)).astype(np.float32)
    x[:, :10] += 3.0 * y[:, None]
    z = StandardizeProject.fit(torch.from_numpy(x), 4, seed=0)(torch.from_numpy(x)).numpy()
    best = max(abs(np.corrcoef(z[:, j], y)[0, 1]) for j in range(4))
    assert best > 0.9


def test_fewer_rows_than_components_leaves_the_rest_zero():
    x = _features(10, 30, 2)
    proj = StandardizeProject.fit(x, 20)
    z = proj(x)
    assert z.shape == (10, 20)
    assert torch.count_nonzero(proj.components_P_D.abs().sum(1)) <= 9
    assert torch.all(z[:, 9:] == 0)


def test_state_round_trip_and_plain_standardize():
    x = _features(100, 12, 3)
    proj = StandardizeProject.fit(x, 5, seed=0)
    again = norm_from_state(proj.state_dict())
    assert isinstance(again, StandardizeProject)
    torch.testing.assert_close(again(x), proj(x))
    plain = norm_from_state(Standardize.fit(x).state_dict())
    assert type(plain) is Standardize


def test_bad_width():
    with pytest.raises(ValueError, match="n_components"):
        StandardizeProject(10, 11)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(20, 80), d=st.integers(3, 20), p=st.integers(1, 3), seed=st.integers(0, 10 ** 6))
def test_projection_is_centred_and_deterministic(n, d, p, seed):
    x = _features(n, d, seed)
    a = StandardizeProject.fit(x, p, seed=seed)
    b = StandardizeProject.fit(x, p, seed=seed)
    torch.testing.assert_close(a(x), b(x))
    assert torch.all(a(x).mean(0).abs() < 1e-3 * (1 + a(x).abs().max()))
