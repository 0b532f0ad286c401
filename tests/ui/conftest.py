"""Fixtures for the widget tests: tiny learners on 200 digits that train in about a second."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from alwidget import ActiveLearner, ImagePool, datasets

SMALL_TRAIN = {"max_steps": 20}


@pytest.fixture(scope="session")
def digits200() -> ImagePool:
    """The first 200 of scikit-learn's digits, with their truth."""
    pool = datasets.digits()
    return pool.subset(pool.ids[:200])


@pytest.fixture
def make_learner(make_learner, tmp_path, digits200) -> Callable[..., ActiveLearner]:
    """``make_learner(**kwargs)``: the suite's learner factory, on 200 digits in embed mode with a
    store in ``tmp_path`` and the validation set labelled from the truth."""
    count = [0]

    def make(pool: ImagePool = None, **kwargs: Any) -> ActiveLearner:
        opts = dict(store=tmp_path / f"labels{count[0]}.db", train=SMALL_TRAIN, mode="embed",
                    validation_from_truth=True, validation_size=20, mc_samples=5, seed=0,
                    image_size=None)
        opts.update(kwargs)
        count[0] += 1
        return make_learner_base(pool if pool is not None else digits200, **opts)

    make_learner_base = make_learner
    return make


@pytest.fixture
def make_widget(make_learner):
    """``make_widget(learner=None, **widget_kwargs)``: a LabelingWidget, closed after the test."""
    from alwidget.ui import LabelingWidget

    made = []

    def make(learner: ActiveLearner = None, **kwargs: Any) -> LabelingWidget:
        w = LabelingWidget(learner if learner is not None else make_learner(), **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.wait(60)
        w.close()


def _label_from_truth(w, n: int = None) -> list:
    truth = w.learner.pool.truth
    cards = list(w.cards)[: n if n is not None else len(w.cards)]
    for card in cards:
        card.buttons[truth[card.item_id]].click()
    return [c.item_id for c in cards]


@pytest.fixture
def label_from_truth() -> Callable[..., list]:
    """``label_from_truth(widget, n=None)``: click the true class button on the first ``n`` cards
    of the grid (all by default), like a person would; returns the ids."""
    return _label_from_truth
