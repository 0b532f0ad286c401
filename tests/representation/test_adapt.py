"""The pretrained features' slow cycle: a residual adapter trained on the labels
(:mod:`alwidget.representation.adapt`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alwidget.model.features import Standardize
from alwidget.representation.adapt import norm_from_state
from alwidget.representation.adapt import AdaptConfig, AdaptedNorm, ResidualAdapter, adapt_representation
from alwidget.representation.builder import Representation
from alwidget.semi.choice import linear_probe


def _xor_representation(n: int = 600, seed: int = 0):
    """4-d features whose class is the XOR of the signs of the first two: no linear classifier
    does better than chance on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    raw = torch.from_numpy(x)
    norm = Standardize.fit(raw)
    with torch.no_grad():
        feats = norm(raw)
    return Representation(torch.nn.Identity(), raw, norm, feats), y


def test_the_adapter_starts_as_the_identity():
    adapter = ResidualAdapter(5, 7, dropout=0.5, generator=torch.Generator().manual_seed(0)).eval()
    z = torch.randn(3, 5)
    torch.testing.assert_close(adapter(z), z)


def test_adapted_features_separate_what_the_frozen_ones_cannot():
    base, y = _xor_representation()
    train, held = np.arange(300), np.arange(300, 600)
    frozen = linear_probe(base.features_N_D.numpy()[train], y[train], base.features_N_D.numpy()[held], 2)
    adapted = adapt_representation(base, train, y[train], 2, AdaptConfig(steps=400), seed=0)
    a = adapted.features_N_D.numpy()
    after = linear_probe(a[train], y[train], a[held], 2)
    acc_frozen = float(np.mean(frozen.argmax(1) == y[held]))
    acc_adapted = float(np.mean(after.argmax(1) == y[held]))
    assert acc_frozen < 0.6 and acc_adapted > 0.85, (acc_frozen, acc_adapted)
    # the trunk and raw features are shared, the base is untouched, the width is kept
    assert adapted.trunk is base.trunk and adapted.raw_N_D is base.raw_N_D and a.shape == (600, 4)
    assert isinstance(adapted.norm, AdaptedNorm) and adapted.norm.out_features == 4
    # new items go through the same steps: norm(raw) gives the adapted features
    with torch.no_grad():
        torch.testing.assert_close(adapted.norm(base.raw_N_D), adapted.features_N_D, atol=1e-5, rtol=1e-5)


def test_same_seed_same_features_and_a_checkpoint_round_trip():
    base, y = _xor_representation(200, 1)
    pos = np.arange(50)
    a = adapt_representation(base, pos, y[pos], 2, AdaptConfig(steps=30), seed=3)
    b = adapt_representation(base, pos, y[pos], 2, AdaptConfig(steps=30), seed=3)
    torch.testing.assert_close(a.features_N_D, b.features_N_D)
    again = norm_from_state(a.norm.state_dict())
    assert isinstance(again, AdaptedNorm) and type(again.base) is Standardize
    with torch.no_grad():
        torch.testing.assert_close(again(base.raw_N_D), a.norm(base.raw_N_D))


def test_unreadable_rows_stay_zero_and_bad_settings():
    base, y = _xor_representation(100, 2)
    base.features_N_D[5] = 0.0
    out = adapt_representation(base, np.arange(20), y[:20], 2, AdaptConfig(steps=5), seed=0)
    assert torch.all(out.features_N_D[5] == 0)
    with pytest.raises(ValueError, match="at least one label"):
        adapt_representation(base, np.array([], dtype=int), np.array([], dtype=int), 2, seed=0)
    with pytest.raises(ValueError, match="dropout"):
        AdaptConfig(dropout=1.0)
