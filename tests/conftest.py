"""Shared fixtures: small real pools and fast training settings."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"

FAST_TRAIN = {"max_steps": 40, "patience": 0}
"""Training settings that keep one cycle on a few hundred digits under a second or two."""


@pytest.fixture(scope="session")
def digits_pool():
    """scikit-learn's 1,797 digits as an ImagePool with truth."""
    from alwidget import datasets

    return datasets.digits()


@pytest.fixture(scope="session")
def small_pool(digits_pool):
    """The first 300 digits."""
    return digits_pool.subset(digits_pool.ids[:300])


@pytest.fixture
def make_learner(small_pool):
    """``make_learner(**kwargs)``: a learner on 300 digits with fast settings, closed afterwards."""
    from alwidget import ActiveLearner

    made = []

    def make(pool=None, **kwargs):
        kwargs.setdefault("train", dict(FAST_TRAIN))
        kwargs.setdefault("image_size", 16)
        kwargs.setdefault("mc_samples", 8)
        kwargs.setdefault("validation_size", 30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            learner = ActiveLearner(pool if pool is not None else small_pool, **kwargs)
        made.append(learner)
        return learner

    yield make
    for learner in made:
        learner.close()


@pytest.fixture
def oracle():
    """``oracle(learner, ids)``: label ``ids`` from the pool's truth."""

    def teach(learner, ids):
        learner.teach(ids, [learner.pool.truth[i] for i in ids], source="oracle")

    return teach


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder (env ALWIDGET_DATA or the repo's sibling shared/datasets)."""
    path = Path(os.environ.get("ALWIDGET_DATA") or DEFAULT_DATA)
    if not (path / "fashion-mnist").is_dir():
        pytest.skip(f"real datasets not found at {path}; set ALWIDGET_DATA")
    return path
