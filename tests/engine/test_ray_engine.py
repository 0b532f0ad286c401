"""The Ray engine against the local one, on a local 2-CPU Ray cluster started by the tests."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'alwidget[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")

from ray import cloudpickle  # noqa: E402

from alwidget import ActiveLearner, ImagePool, datasets  # noqa: E402
from alwidget.engine import EngineError, LocalEngine  # noqa: E402
from alwidget.engine.ray_engine import RayEngine  # noqa: E402
from alwidget.engine.features import embed_rows_chunked  # noqa: E402
from alwidget.data.tensors import PoolTensors  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


class DyingTrunk(nn.Module):
    """Kills its own process the first time it runs while ``marker`` exists (removing it first, so
    the retried chunk succeeds)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.lin = nn.Linear(64, 6)
        self.num_features = 6

    def forward(self, x):
        try:
            os.remove(self.marker)  # the one worker that removes it dies; two may race for it
        except FileNotFoundError:
            return self.lin(x.flatten(1)[:, :64])
        os._exit(1)


def _digits(n):
    d = datasets.digits()
    return d.subset(d.ids[:n])


def test_learner_on_ray_equals_local(cluster, tmp_path):
    pool = _digits(400)
    runs = {}
    for engine in ("local", RayEngine(workers=2)):
        learner = ActiveLearner(pool, mode="embed", seed=3, validation_from_truth=True, cache_dir=tmp_path / str(engine),
                                memory_limit="700.1MB", engine=engine, train={"max_steps": 60}, store=None)
        assert learner._chunked and learner.memory_plan.chunk_rows == 256  # two chunks, run by two actors
        ids = learner.query(20)
        learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
        learner.retrain()
        runs[learner.engine.name] = (learner.recipe.features.features_N_D[torch.arange(400)], learner.scores,
                                     learner.query(12))
        learner.close()
    f_local, s_local, q_local = runs["local"]
    f_ray, s_ray, q_ray = runs["ray"]
    torch.testing.assert_close(f_ray, f_local, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(s_ray, s_local, atol=1e-6)
    assert q_ray == q_local


def test_a_worker_killed_mid_pass_is_retried(cluster, tmp_path):
    pool = _digits(300)
    marker = tmp_path / "kill-once"
    marker.write_text("")
    trunk = DyingTrunk(str(marker))
    tensors = PoolTensors(pool, 8, 1, [0.5], [0.25], chunk_rows=100)
    arr = embed_rows_chunked(trunk, tensors, tmp_path / "ray", "k", 6, engine=RayEngine(workers=2))
    assert not marker.exists() and arr.complete  # a worker died, and the pass still finished
    marker_gone = PoolTensors(pool, 8, 1, [0.5], [0.25], chunk_rows=100)
    ref = embed_rows_chunked(trunk, marker_gone, tmp_path / "local", "k", 6, engine=LocalEngine())
    np.testing.assert_allclose(arr.read(0, 300), ref.read(0, 300), atol=1e-6)


def test_a_worker_that_keeps_dying_fails_clearly_and_writes_nothing_half(cluster, tmp_path):
    pool = _digits(200)

    class AlwaysDying(DyingTrunk):
        def forward(self, x):
            os._exit(1)

    tensors = PoolTensors(pool, 8, 1, [0.5], [0.25], chunk_rows=100)
    with pytest.raises(EngineError, match="failed on Ray.*nothing is half-written"):
        list(RayEngine(workers=1, max_restarts=1).map_rows(
            __import__("alwidget.engine", fromlist=["EmbedTask"]).EmbedTask(AlwaysDying("x"), pool, 8, 1, [0.5], [0.25]),
            [(0, 0, 100), (1, 100, 200)]))
    with pytest.raises(EngineError):
        embed_rows_chunked(AlwaysDying("x"), tensors, tmp_path / "f", "k", 6, engine=RayEngine(workers=1, max_restarts=0))
    from alwidget.data.chunked import ChunkedArray

    arr = ChunkedArray(tmp_path / "f")
    assert arr.missing() == [0, 1]  # no chunk marked done


class OnlyHere(torch.utils.data.Dataset):
    """Images that only the notebook's process can read (a stand-in for files on its local disk)."""

    def __init__(self, n: int) -> None:
        self.n, self.pid = n, os.getpid()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if os.getpid() != self.pid:
            raise FileNotFoundError(f"/home/me/photos/img_{i:04d}.jpg")
        return np.full((8, 8), i % 255, np.uint8), int(i % 2)


def test_files_readable_here_but_not_on_a_worker_are_named(cluster, tmp_path):
    pool = ImagePool.from_torch(OnlyHere(50), classes=["a", "b"])
    tensors = PoolTensors(pool, 8, 1, [0.5], [0.25], chunk_rows=25)
    with pytest.raises(EngineError, match=r"readable on this machine but not on the Ray worker.*img_0000\.jpg"):
        embed_rows_chunked(DyingTrunk(str(tmp_path / "never")), tensors, tmp_path / "f", "k", 6,
                           engine=RayEngine(workers=1))


def test_ray_engine_is_refused_in_finetune_mode():
    with pytest.raises(ValueError, match="engine='local'"):
        ActiveLearner(_digits(100), mode="finetune", engine=RayEngine(), store=None)


def test_semi_mode_on_ray_equals_local(cluster, tmp_path):
    """The representation's pass and the slow cycle's refresh of the features run on Ray and give
    the local numbers."""
    pool = _digits(300)
    runs = {}
    for engine in ("local", RayEngine(workers=2)):
        learner = ActiveLearner(pool, mode="semi", representation="frozen", seed=1, validation_from_truth=True,
                                slow_cycle="inline", refine_every=None, refine_config={"steps": 5},
                                train={"max_steps": 40}, engine=engine, memory_limit=None, store=None)
        ids = learner.query(20)
        learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
        learner.retrain()
        refined = learner.refine()
        runs[learner.engine.name] = (learner.representation.result().features_N_D, refined.features_N_D,
                                     learner.query(10))
        learner.close()
    for a, b in zip(runs["ray"][:2], runs["local"][:2]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert runs["ray"][2] == runs["local"][2]
