"""A learner under a memory budget: arrays on disk, the streaming pass, chunked scoring."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from alwidget import ActiveLearner, ImagePool, datasets
from alwidget.progress import CancelToken, CycleCancelled

TIGHT = "700.2MB"  # just above the baseline: images and features of digits go to disk


def _run(pool, tmp_path, name, **kw):
    learner = ActiveLearner(pool, mode="embed", seed=0, validation_from_truth=True, cache_dir=tmp_path / name,
                            train={"max_steps": 80}, store=tmp_path / f"{name}.db", **kw)
    ids = learner.query(30)
    learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
    rep = learner.retrain()
    return learner, rep


def test_a_tight_budget_gives_the_same_cycle_as_no_budget(tmp_path):
    pool = datasets.digits()
    free, rep_free = _run(pool, tmp_path, "free", memory_limit=None)
    tight, rep_tight = _run(pool, tmp_path, "tight", memory_limit=TIGHT)
    assert not free.memory_plan.on_disk
    assert tight._tensors.on_disk and not tight.memory_plan.features_in_memory
    assert tight.memory_plan.chunk_rows == 256  # 1,797 items: the pass and the scores run in 8 chunks
    assert rep_tight.accuracy == rep_free.accuracy
    np.testing.assert_allclose(tight.scores, free.scores, atol=1e-5)
    assert tight.query(12) == free.query(12)
    assert len(list((tmp_path / "tight").glob("images-*/data.npy"))) == 1
    assert "images on disk, features on disk" in tight.memory_plan.describe()


def test_the_streaming_pass_resumes_after_a_cancel(tmp_path):
    pool = datasets.digits()
    first = ActiveLearner(pool, mode="embed", cache_dir=tmp_path, memory_limit=TIGHT, store=None)
    token, seen = CancelToken(), []

    def progress(step, fraction):
        seen.append((step, fraction))
        if fraction >= 0.5:
            token.cancel()

    with pytest.raises(CycleCancelled):
        first.prepare(progress=progress, cancel=token)
    from alwidget.data.chunked import ChunkedArray

    raw = ChunkedArray(next(p for p in tmp_path.glob("features-*") if not p.name.endswith("-std")))
    done = raw.n_chunks - len(raw.missing())
    assert 0 < done < raw.n_chunks and seen[0][0] == "embed"
    again = ActiveLearner(pool, mode="embed", cache_dir=tmp_path, memory_limit=TIGHT, store=None)
    calls = []
    again.prepare(progress=lambda s, f: calls.append(f))
    assert raw.n_chunks - done == sum(1 for f in calls if f < 1)  # only the missing chunks ran
    ref = ActiveLearner(pool, mode="embed", memory_limit=None, store=None)
    ref.prepare()
    np.testing.assert_allclose(again.recipe.features.features_N_D[np.arange(len(pool))].numpy(),
                               ref.recipe.features.features_N_D.numpy(), atol=1e-5)


def test_no_cache_dir_goes_to_a_temporary_folder_with_a_warning():
    with pytest.warns(UserWarning, match="pass cache_dir"):
        learner = ActiveLearner(datasets.digits(), mode="embed", memory_limit=TIGHT, store=None)
    assert learner._tensors.on_disk


def test_a_memory_mapped_pool_is_read_in_place_and_pickles_as_its_path(tmp_path):
    path = tmp_path / "images.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(500, 16, 16, 3))
    mm[:] = np.random.default_rng(0).integers(0, 256, mm.shape, dtype=np.uint8)
    mm.flush()
    del mm
    images = np.load(path, mmap_mode="r")
    pool = ImagePool.from_arrays(images, truth=np.arange(500) % 2)
    assert isinstance(pool.as_array(), np.memmap)
    assert len(pickle.dumps(pool)) < 50_000  # not the 384 KB of pixels
    back = pickle.loads(pickle.dumps(pool))
    np.testing.assert_array_equal(back.image("7"), images[7])
    np.testing.assert_array_equal(pool.rows(10, 20), images[10:20])
    sub = pool.subset(["9", "3"])
    np.testing.assert_array_equal(sub.rows(0, 2), images[[9, 3]])
    path.rename(tmp_path / "moved.npy")
    with pytest.raises(OSError, match="cannot be opened on this machine"):
        pickle.loads(pickle.dumps(pool))


def test_bad_memory_limit_is_refused():
    with pytest.raises(ValueError, match="memory_limit"):
        ActiveLearner(datasets.digits(), mode="embed", memory_limit="lots", store=None)
