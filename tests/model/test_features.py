"""The pool's feature pass (``compute_features``): its outputs, and the memory it leaves behind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from alwidget import ImagePool
from alwidget.data.tensors import PoolTensors
from alwidget.model.features import compute_features
from alwidget.representation.pca import PCAEmbedder


def _pca_tensors(n: int, seed: int = 0, folder=None):
    rng = np.random.default_rng(seed)
    pool = ImagePool.from_arrays(rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8))
    tensors = PoolTensors(pool, 32, 3, [0.5] * 3, [0.5] * 3, folder=folder)
    trunk = PCAEmbedder(3 * 32 * 32, 50)
    with torch.no_grad():
        trunk.components_K_F.copy_(torch.from_numpy(rng.normal(size=(50, 3 * 32 * 32)).astype(np.float32)))
        trunk.mean_F.fill_(0.25)
    return tensors, trunk


def test_rows_match_one_forward_pass_in_any_batch_size():
    tensors, trunk = _pca_tensors(300)
    positions = [5, 0, 299, 17, 17, 42]
    with torch.no_grad():
        want = trunk(tensors.batch(positions))
    for batch in (1, 4, 128):
        got = compute_features(trunk, tensors, positions, batch_size=batch)
        assert got.dtype == torch.float32 and got.shape == (6, 50)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)
    assert compute_features(trunk, tensors, []).shape == (0, 50)


_PASS = r"""
import sys
sys.path[:0] = [sys.argv[1]]
import numpy as np, torch
from alwidget._memory import limit_malloc_arenas
limit_malloc_arenas()
torch.set_num_threads(1)
from test_features import _pca_tensors
from alwidget.model.features import compute_features
def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
tensors, trunk = _pca_tensors(20000, folder=sys.argv[2])  # the images' copies on disk, as for a large pool
tensors.fill()
compute_features(trunk, tensors, range(500))  # torch's own first-use buffers
before = anon_mb()
feats = compute_features(trunk, tensors, range(20000), batch_size=128)
print(anon_mb() - before, feats.shape[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status; glibc's heap")
def test_a_pass_keeps_only_its_output_resident(tmp_path):
    """The pass over 20,000 colour images at 32 px keeps its 4 MB of output, not the 240 MB of
    float images it made batch by batch (appending each batch's output fragmented glibc's heap:
    +230 MB here, 2.4 GB at 200,000 images)."""
    import os

    res = subprocess.run([sys.executable, "-c", _PASS, os.path.dirname(__file__), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    grew_mb, rows = res.stdout.split()
    assert int(rows) == 20000
    assert float(grew_mb) < 40, f"the pass left {float(grew_mb):.0f} MB resident"
