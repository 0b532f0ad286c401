"""Shared data and training for the estimator tests: three Gaussian blobs in ``D = 8``.

Blob ``k`` is centred at ``3·e_k`` (the first three axes) with standard deviation 0.5; the
"far" points lie at ``3·e_j`` for the five other axes and at the origin — equidistant from
all three centres, away from the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import pytest
import torch

from alwidget.model.train import TrainConfig, fit
from alwidget.uncertainty import UncertaintyEstimator, create_estimator

D, C, N_PER_CLASS = 8, 3, 30
N_SAMPLES = 16
TRAIN = TrainConfig(max_steps=120, lr=1e-2, augment=False, patience=0)


@dataclass(frozen=True)
class Blobs:
    x_N_D: torch.Tensor
    y_N: torch.Tensor
    centres_C_D: torch.Tensor
    far_M_D: torch.Tensor


def make_blobs(seed: int = 0, n_per_class: int = N_PER_CLASS) -> Blobs:
    g = torch.Generator().manual_seed(seed)
    centres = torch.zeros(C, D)
    centres[torch.arange(C), torch.arange(C)] = 3.0
    x = centres.repeat_interleave(n_per_class, 0) + 0.5 * torch.randn(C * n_per_class, D, generator=g)
    y = torch.arange(C).repeat_interleave(n_per_class)
    far = torch.zeros(D - C + 1, D)
    far[torch.arange(D - C), torch.arange(C, D)] = 3.0  # last row: the origin
    return Blobs(x, y, centres, far)


def train_head(est: UncertaintyEstimator, blobs: Blobs, seed: int = 1) -> Tuple[torch.nn.Module, object]:
    """Build and fit a head with the real training loop, then fit its posterior.

    ``torch.manual_seed(seed)`` seeds the initialisation and dropout (as the learner does);
    the batch order comes from its own generator.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = est.build_head(blobs.x_N_D.shape[1], C)
        x, y = blobs.x_N_D, blobs.y_N
        result = fit(head, lambda idx, training: head(x[torch.as_tensor(idx)]),
                     lambda out, yb, frac: est.loss(out, yb, progress=frac), y.numpy(), TRAIN,
                     generator=torch.Generator().manual_seed(seed + 1))
    est.fit_posterior(head, x, y)
    return head, result


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run these tests on one intra-op thread, restoring the setting afterwards.

    The tensors here are tiny; on a shared two-core machine torch's thread pool makes a
    120-step head fit take seconds instead of ~0.05 s.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def blobs() -> Blobs:
    return make_blobs()


@pytest.fixture(scope="session")
def trained(blobs) -> Dict[str, Tuple[UncertaintyEstimator, torch.nn.Module]]:
    """One trained head per registered estimator (default parameters), built lazily."""
    cache: Dict[str, Tuple[UncertaintyEstimator, torch.nn.Module]] = {}

    class Lazy(dict):
        def __missing__(self, name):
            est = create_estimator(name)
            head, _ = train_head(est, blobs)
            cache[name] = (est, head)
            self[name] = cache[name]
            return cache[name]

    return Lazy()


@pytest.fixture(scope="session")
def blob_maker():
    """:func:`make_blobs`, for tests that need other sizes or seeds."""
    return make_blobs


@pytest.fixture(scope="session")
def head_trainer():
    """:func:`train_head`."""
    return train_head
