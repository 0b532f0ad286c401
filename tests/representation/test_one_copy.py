"""One copy of a pool's features for pools past the memory plan: the raw rows given back from the
standardised ones (``StandardizedRaw``), against the two-copy representation they replace."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from alwidget.model.features import Standardize
from alwidget.representation.builder import Representation, StandardizedRaw, one_copy
from alwidget.semi.choice import without_near_copies


def _raw(n: int = 1000, d: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, d, generator=g) * torch.linspace(0.01, 30.0, d) + torch.linspace(-5, 5, d)
    raw[7] = 0.0  # an unreadable image: a row of zeros
    return raw


def test_one_copy_standardises_in_place_and_gives_the_raw_rows_back():
    raw = _raw()
    norm = Standardize.fit(raw)
    two = Representation(nn.Identity(), raw.clone(), norm, norm(raw))
    work = raw.clone()
    ptr = work.data_ptr()
    view, feats = one_copy(work, norm)
    assert feats.data_ptr() == ptr  # no second array: the raw rows became the features
    torch.testing.assert_close(feats, two.features_N_D, rtol=0, atol=1e-6)
    idx = torch.tensor([0, 7, 999, 3])
    torch.testing.assert_close(view[idx], raw[idx], rtol=1e-5, atol=1e-4)
    assert view.shape == raw.shape and len(view) == 1000
    np.testing.assert_allclose(view.numpy(), raw.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(view), raw.numpy(), rtol=1e-5, atol=1e-4)
    one = Representation(nn.Identity(), view, norm, feats)
    view.chunk_rows = 300  # several chunks, the last one short
    np.testing.assert_allclose(one.graph_features(), two.graph_features(), atol=1e-5)
    assert np.allclose(np.linalg.norm(one.graph_features(), axis=1)[[0, 1, 998]], 1.0, atol=1e-5)


def test_near_copies_are_found_in_the_raw_rows_given_back():
    raw = _raw(400, 16, seed=1)
    raw[300:320] = raw[0:20] + 0.01  # training labels 300..319: near-copies of validation labels 0..19
    norm = Standardize.fit(raw)
    view, _ = one_copy(raw.clone(), norm)
    pos = np.r_[np.arange(0, 60), np.arange(300, 320)]
    scored = np.r_[np.ones(60, bool), np.zeros(20, bool)]
    got = without_near_copies(scored, pos, view)
    want = without_near_copies(scored, pos, raw.numpy())
    # 19: validation label 7 is an unreadable image (a zero row), near nothing
    assert got[1] == want[1] == 19 and np.array_equal(got[0], want[0])
    assert isinstance(view, StandardizedRaw)


def test_a_representation_built_or_loaded_with_one_copy_equals_the_two_copy_one(small_pool, tmp_path):
    """``PoolRepresentation(keep_raw=False)``, built fresh and loaded from its cache: the same
    standardised features as with two copies, one array (the raw rows are a StandardizedRaw),
    and the cache still holds the raw rows."""
    from alwidget.data.tensors import PoolTensors
    from alwidget.model.backbone import create_backbone
    from alwidget.representation import PoolRepresentation, RepresentationCache

    torch.manual_seed(0)
    trunk, info = create_backbone("alwidget_cnn", in_chans=1)
    tensors = PoolTensors(small_pool, 16, 1, info.mean, info.std)

    def make(keep_raw, folder):
        return PoolRepresentation(tensors, trunk, info.num_features, method="frozen", seed=0, keep_raw=keep_raw,
                                  cache=RepresentationCache({"test": "one copy"}, folder)).build()

    two = make(True, tmp_path / "two")
    fresh = make(False, tmp_path / "one")
    loaded = make(False, tmp_path / "one")
    assert not fresh.from_cache and loaded.from_cache
    for one in (fresh, loaded):
        assert isinstance(one.raw_N_D, StandardizedRaw) and one.raw_N_D.features_N_D is one.features_N_D
        torch.testing.assert_close(one.features_N_D, two.features_N_D, rtol=0, atol=1e-6)
        np.testing.assert_allclose(one.graph_features(), two.graph_features(), atol=1e-5)
    torch.testing.assert_close(RepresentationCache({"test": "one copy"}, tmp_path / "one").load()["raw"], two.raw_N_D)


def test_the_slow_cycle_refines_a_one_copy_base_into_one_copy(small_pool, tmp_path):
    """A base that holds one copy (a pool past the memory plan) is refined into one copy too: the
    same fine-tuned features as from the two-copy base (same seed), one array."""
    from alwidget.data.tensors import PoolTensors
    from alwidget.model.backbone import create_backbone
    from alwidget.representation import PoolRepresentation, RefineConfig, RepresentationCache
    from alwidget.representation.refine import refine_representation

    torch.manual_seed(0)
    trunk, info = create_backbone("alwidget_cnn", in_chans=1)
    tensors = PoolTensors(small_pool, 16, 1, info.mean, info.std)
    pos = np.arange(40)
    y = np.array([int(small_pool.truth[small_pool.ids[p]]) for p in pos])
    out = {}
    for keep_raw in (True, False):
        base = PoolRepresentation(tensors, trunk, info.num_features, method="frozen", seed=0, keep_raw=keep_raw,
                                  cache=RepresentationCache({"test": "refine"}, tmp_path / str(keep_raw))).build()
        out[keep_raw] = refine_representation(base, tensors, pos, y, 10, RefineConfig(steps=3, batch_size=16), seed=1)
    assert isinstance(out[False].raw_N_D, StandardizedRaw) and out[False].raw_N_D.features_N_D is out[False].features_N_D
    assert isinstance(out[True].raw_N_D, torch.Tensor)
    torch.testing.assert_close(out[False].features_N_D, out[True].features_N_D, rtol=0, atol=1e-5)
