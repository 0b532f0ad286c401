"""The 2-D map of a representation (alwidget/representation/projection.py) and the learner's
``projection()`` (alwidget/projections.py)."""

from __future__ import annotations

import numpy as np
import pytest

from alwidget.representation.projection import available_methods, default_method, knn_preservation, project_N_2


def _clusters(n_per: int = 100, d: int = 20, seed: int = 0):
    """Three tight, well-separated blobs in ``d`` dimensions, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(3, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(3), n_per)


def test_knn_preservation_by_hand():
    # four points on a line: 0, 1, 10, 11. Each one's nearest other point is its pair.
    x = np.array([[0.0], [1.0], [10.0], [11.0]], dtype=np.float32)
    same = np.c_[x, np.zeros(4)]
    assert knn_preservation(x, same, k=1) == 1.0
    swapped = np.array([[0, 0], [10, 0], [1, 0], [11, 0]], dtype=np.float32)  # pairs broken up
    assert knn_preservation(x, swapped, k=1) == 0.0
    half = np.array([[0, 0], [1, 0], [20, 0], [5, 0]], dtype=np.float32)
    # on the map: 0's nearest is 1 (kept), 1's is 0 (kept), 2's is 3 (kept), 3's is 1 (not 2): 3 of 4
    assert knn_preservation(x, half, k=1) == 0.75
    with pytest.raises(ValueError, match=r"map must be \[N, 2\]"):
        knn_preservation(x, same[:3], k=1)


def test_pca_keeps_a_plane_exactly_and_is_centred():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(500, 2))
    x = (plane @ rng.normal(size=(2, 8))).astype(np.float32)  # a 2-D plane in 8 dimensions
    y = project_N_2(x, "pca", seed=0)
    assert y.shape == (500, 2) and y.dtype == np.float32
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-4)
    # a linear map of the plane keeps neighbourhoods up to its stretch; the plane's own axes: all
    assert knn_preservation(plane.astype(np.float32), y, k=10, sample=500) > 0.8
    np.testing.assert_array_equal(project_N_2(x, "pca", seed=0), y)  # the same seed, the same map


def test_input_is_checked():
    with pytest.raises(ValueError, match="method must be one of"):
        project_N_2(np.zeros((5, 3)), "isomap")
    with pytest.raises(ValueError, match="NaN or infinite"):
        project_N_2(np.array([[0.0, np.nan]] * 5), "pca")
    with pytest.raises(ValueError, match=r"\[N, D\] with N >= 3"):
        project_N_2(np.zeros((2, 3)), "pca")
    assert available_methods()[-1] == "pca" and default_method() == available_methods()[0]
    for method, package in (("umap", "umap-learn"), ("tsne", "openTSNE")):
        if method not in available_methods():  # a clear message, not a bare ModuleNotFoundError
            with pytest.raises(ImportError, match=f"pip install {package}"):
                project_N_2(np.zeros((20, 3)), method)


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_neighbour_methods_separate_clusters_and_keep_neighbourhoods(method):
    package = {"umap": "umap", "tsne": "openTSNE"}[method]
    if method not in available_methods():
        pytest.skip(f"{package} is not installed (optional: pip install {'umap-learn' if method == 'umap' else package})")
    x, labels = _clusters()
    y = project_N_2(x, method, seed=0)
    assert y.shape == (300, 2)
    # every item's nearest neighbour on the map is of its own blob, and the map keeps more of the
    # 10 nearest neighbours than PCA's straight view does
    from sklearn.neighbors import NearestNeighbors

    _, idx = NearestNeighbors(n_neighbors=2).fit(y).kneighbors(y)
    assert (labels[idx[:, 1]] == labels).mean() == 1.0
    assert knn_preservation(x, y, k=10) > knn_preservation(x, project_N_2(x, "pca"), k=10)
    np.testing.assert_array_equal(project_N_2(x, method, seed=0), y)  # seeded: the same map again


def test_the_learner_maps_the_representation_in_use_and_keeps_it(make_learner, tmp_path, oracle):
    cache = tmp_path / "cache"
    # embed mode: the frozen trunk is the representation, before and after training: one map
    learner = make_learner(mode="embed", validation_size=20, validation_from_truth=True, cache_dir=cache)
    assert learner.projection("pca", wait=False) is None  # started in the background
    before = learner.projection("pca")
    assert before.shape == (300, 2) and before.dtype == np.float32
    oracle(learner, learner.query(20))
    learner.retrain()
    assert learner.projection("pca") is before  # the same representation, the same map
    files = list(cache.glob("projection-*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0]), before)
    # finetune mode: training changes the features, so the map is computed again
    tuned = make_learner(validation_size=20, validation_from_truth=True, cache_dir=cache)
    oracle(tuned, tuned.query(20))
    tuned.retrain()
    first = tuned.projection("pca")
    oracle(tuned, tuned.query(20))
    tuned.retrain()
    second = tuned.projection("pca")
    assert not np.array_equal(first, second) and len(list(cache.glob("projection-*.npy"))) == 3
    # another reader of the same features finds the map in the cache folder
    from alwidget.projections import MapWorker, map_key

    worker = MapWorker(cache)
    feats, _ = tuned._features_in_use()
    np.testing.assert_array_equal(worker.get(map_key(feats, "pca", tuned.seed)), second)
    assert worker.seconds == {}
    with pytest.raises(ValueError, match="method must be one of"):
        tuned.projection("isomap")
