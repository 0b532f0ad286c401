"""Faults injected into a cycle, seen through the widget.

Each case builds ``LabelingWidget(learner, k=...)``, labels cards by clicking, runs one good
cycle, injects a fault, triggers the next cycle with the widget's own *Retrain now* button,
waits for the background future, and checks, kernel-side:

* a clear message in the widget (error line, flash message, status line, progress step);
* no label lost: the store holds exactly the labels clicked (before and during the cycle);
* the previous model is kept (the pool's uncertainty is unchanged);
* with the fault removed, the next cycle (again through the button) works and clears the error.

Faults: an exception in training, a NaN loss, out of memory in the backbone's forward
(training) and in the estimator (scoring), a cancelled cycle, and an image file overwritten
with garbage after the pool was built (met while scoring). ``tests/test_learner.py`` covers
the same faults at the engine level; ``tests/ui/test_widget.py`` covers an inf learning rate
and cancel in the widget. Here every fault meets the same checks.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Dict

import numpy as np
import pytest
import torch
from torch import nn

from alwidget import ImagePool
from alwidget.uncertainty import MCDropout

from .conftest import TALLY, garbage_bytes, save_digit

pytestmark = pytest.mark.timeout(180)


# ----------------------------------------------------------------------------- faulty parts


class ExplodingEstimator(MCDropout):
    """Training raises inside the loss."""

    name = "exploding"

    def loss(self, head_out, y_B, *, weight_C=None, progress=1.0):
        raise RuntimeError("boom in training")


class NaNEstimator(MCDropout):
    """Every training loss is NaN."""

    name = "nan-loss"

    def loss(self, head_out, y_B, *, weight_C=None, progress=1.0):
        return super().loss(head_out, y_B, weight_C=weight_C, progress=progress) * float("nan")


class OOMScoringEstimator(MCDropout):
    """Training works; drawing the posterior over the pool runs out of memory."""

    name = "oom-scoring"

    def posterior(self, head, features_N_D, *, n_samples, generator=None):
        raise MemoryError("Unable to allocate 7.50 GiB for the posterior samples")


class SwitchableTrunk(nn.Module):
    """A small conv trunk whose forward raises ``fail`` while it is set.

    ``fail`` is a class attribute: the learner works on copies of a user's module (one per
    cycle), so the switch must reach every copy. Use :func:`switchable_trunk` for a class
    of the test's own.
    """

    num_features = 8
    fail: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)

    def forward(self, x):
        if type(self).fail is not None:
            raise type(self).fail
        return torch.relu(self.conv(x)).mean((2, 3))


def switchable_trunk() -> SwitchableTrunk:
    return type("SwitchableTrunk", (SwitchableTrunk,), {"fail": None})()


# ----------------------------------------------------------------------------- helpers


def click_truth(w, n: int) -> Dict[str, str]:
    """Click the true class on the first ``n`` unlabelled cards, as a person would."""
    truth = w.learner.pool.truth
    given = {}
    for card in [c for c in w.cards if c.label is None][:n]:
        card.pick(truth[card.item_id])
        given[card.item_id] = truth[card.item_id]
    return given


def retrain_through_widget(w, timeout: float = 90) -> None:
    """Press *Retrain now* and wait for the background future and the widget's refresh."""
    w.retrain()
    assert w.wait(timeout), "the background cycle did not finish"


def assert_no_label_lost(learner, given: Dict[str, str]) -> int:
    """The store holds every label given, once, with its last value; returns how many are lost."""
    saved = learner.store.labels(split=None)
    lost = sum(saved.get(i) != lab for i, lab in given.items())
    assert lost == 0, {i: (lab, saved.get(i)) for i, lab in given.items() if saved.get(i) != lab}
    journal = [e.item_id for e in learner.store.events()]
    assert len(journal) == len(set(journal))  # one current label per item, no duplicate
    assert {i: saved[i] for i in given} == given
    assert set(saved) - set(given) <= set(learner.validation_ids)  # nothing appeared from nowhere
    return lost


def assert_error_shown(w, *needles: str) -> str:
    text = w.error
    assert w.error != "", f"no error shown; message={w.message!r}"
    for needle in needles:
        assert needle.lower() in text.lower(), f"{needle!r} not in the widget's error {text!r}"
    assert w.board.step == "cycle failed" and w.board.progress_style == "danger"
    assert "failed" in w.status
    return text


def assert_recovers(w, given: Dict[str, str], unreadable: int = 0) -> None:
    """With the fault removed, the next cycle (through the button) works and clears the error."""
    given.update(click_truth(w, 2))
    n_before = len(w.learner.history)
    retrain_through_widget(w)
    last = w.learner.history[-1]
    assert len(w.learner.history) == n_before + 1 and last.ok, last.error
    assert last.n_labels == len(w.learner.labels) - unreadable
    assert w.error == "" and w.board.step == "cycle done"
    assert f"cycle {last.cycle}: validation accuracy" in w.status
    assert f"<b>{len(w.learner.labels)}</b> labels" in w.status
    saved = w.learner.store.labels(split=None)
    TALLY["fault_labels_given"] += len(given)  # counted once per test, at its end
    TALLY["fault_labels_lost"] += sum(saved.get(i) != lab for i, lab in given.items())
    assert_no_label_lost(w.learner, given)


@pytest.fixture
def session(digits120, tiny_learner, make_widget):
    """A widget over a finetune learner after one good cycle: ``(widget, labels given)``."""

    def start(pool=None, **kwargs):
        learner = tiny_learner(pool if pool is not None else digits120, **kwargs)
        w = make_widget(learner, k=6)
        assert w.mode == "label"
        given = click_truth(w, 6)
        retrain_through_widget(w)
        assert learner.history[-1].ok and w.error == ""
        given.update(click_truth(w, 3))  # labels given after the good cycle, before the fault
        TALLY["fault_cases"] += 1
        return w, given

    return start


# ----------------------------------------------------------------------------- the faults


def test_exception_in_training(session):
    w, given = session()
    learner = w.learner
    before = learner.uncertainty
    learner.estimator = ExplodingEstimator()
    retrain_through_widget(w)
    text = assert_error_shown(w, "training failed (cycle 2)", "RuntimeError: boom in training")
    assert "previous model is kept" in text
    assert learner.history[-1].error == "RuntimeError: boom in training"
    np.testing.assert_array_equal(learner.uncertainty, before)
    assert_no_label_lost(learner, given)
    learner.estimator = MCDropout()
    assert_recovers(w, given)


def test_nan_loss(session):
    w, given = session()
    learner = w.learner
    before = learner.uncertainty
    learner.estimator = NaNEstimator()
    retrain_through_widget(w)
    assert_error_shown(w, "training failed (cycle 2)", "loss became nan", "lower the learning rate")
    np.testing.assert_array_equal(learner.uncertainty, before)
    assert all(c.suggestion is not None for c in w.cards)  # the cards keep the previous model's guesses
    assert_no_label_lost(learner, given)
    learner.estimator = MCDropout()
    assert_recovers(w, given)


def test_out_of_memory_in_the_backbone_forward(session):
    trunk = switchable_trunk()
    w, given = session(backbone=trunk)
    learner = w.learner
    before = learner.uncertainty
    type(trunk).fail = MemoryError("Unable to allocate 12.0 GiB for an array with shape (512, 64, 224, 224)")
    retrain_through_widget(w)
    assert_error_shown(w, "training failed (cycle 2)", "MemoryError", "Unable to allocate 12.0 GiB")
    np.testing.assert_array_equal(learner.uncertainty, before)
    assert_no_label_lost(learner, given)
    type(trunk).fail = None
    assert_recovers(w, given)


def test_out_of_memory_while_scoring(session):
    w, given = session()
    learner = w.learner
    before = learner.uncertainty
    learner.estimator = OOMScoringEstimator()
    retrain_through_widget(w)
    assert_error_shown(w, "failed (cycle 2)", "MemoryError", "7.50 GiB")
    np.testing.assert_array_equal(learner.uncertainty, before)
    assert_no_label_lost(learner, given)
    learner.estimator = MCDropout()
    assert_recovers(w, given)


def test_bare_out_of_memory_says_what_to_do(session):
    trunk = switchable_trunk()
    w, given = session(backbone=trunk)
    type(trunk).fail = MemoryError()
    retrain_through_widget(w)
    text = assert_error_shown(w, "training failed (cycle 2)")
    assert_no_label_lost(w.learner, given)
    assert "out of memory" in text.lower() and ("image_size" in text or "batch" in text)


def test_cancelled_cycle_with_labels_given_while_it_runs(session):
    w, given = session()
    learner = w.learner
    before = learner.uncertainty
    good = learner.train_config
    learner.train_config = dataclasses.replace(good, max_steps=100_000, max_epochs=100_000)
    training = threading.Event()
    learner.progress_callbacks.append(lambda step, frac: training.set() if step == "train" else None)
    w.retrain()
    assert training.wait(60) and learner.running
    assert w.board.running
    given.update(click_truth(w, 2))  # labels given while the cycle runs
    w.cancel()
    assert w.wait(60)
    assert learner.history[-1].error == "the cycle was cancelled"
    assert "Cycle cancelled; the previous model is kept." in w.message
    assert w.error == "" and w.board.step == "cycle failed"
    assert "cycle 2 failed" in w.status and not w.board.running
    np.testing.assert_array_equal(learner.uncertainty, before)
    assert_no_label_lost(learner, given)
    learner.train_config = good
    assert_recovers(w, given)


# ----------------------------------------------------------------------------- a corrupt file


@pytest.fixture
def file_pool(tmp_path, digits120):
    """120 digits written as PNG files and pooled with ``from_paths`` (read lazily)."""
    paths = [save_digit(digits120, item, tmp_path / "img" / f"d{i:03d}.png") for i, item in enumerate(digits120.ids)]
    truth = [digits120.truth[i] for i in digits120.ids]
    return ImagePool.from_paths([str(p) for p in paths], truth=truth, classes=digits120.classes)


def _unread(w, n: int):
    """``n`` pool items that nothing has decoded yet: not shown, not labelled, not sampled at init."""
    learner = w.learner
    taken = set(learner.store.labels(split=None)) | set(w.grid_ids) | set(learner.validation_ids)
    cached = {learner.pool.ids[p] for p in np.flatnonzero(learner._tensors._filled)}  # private: read at init
    return [i for i in learner.pool.ids if i not in taken and i not in cached][-n:]


def _overwrite_with_garbage(paths):
    for p in paths:
        with open(p, "wb") as fh:
            fh.write(garbage_bytes(1500, seed=len(p)))


def test_file_overwritten_with_garbage_before_the_first_cycle(file_pool, tiny_learner, make_widget):
    learner = tiny_learner(file_pool)
    w = make_widget(learner, k=6)
    TALLY["fault_cases"] += 1
    given = click_truth(w, 6)
    victims = _unread(w, 4)
    # one of them is labelled from code (as an import would), so no card ever decoded it
    learner.teach(victims[0], file_pool.truth[victims[0]], source="import")
    given[victims[0]] = file_pool.truth[victims[0]]
    _overwrite_with_garbage(victims)  # after the pool was built, before the first cycle
    retrain_through_widget(w)
    rep = learner.history[-1]
    assert rep.ok and w.error == ""  # the bad images are skipped, not fatal
    assert rep.n_labels == 6  # the broken labelled image cannot be trained on...
    assert_no_label_lost(learner, given)  # ...but its label is kept in the store
    skipped = dict(file_pool.skipped)
    for v in victims:  # each is recorded with its reason, and never shown again
        assert v in skipped and ("not an image" in skipped[v] or "corrupt" in skipped[v]), skipped.get(v)
    assert not set(victims) & set(learner.query(200)) and not set(victims) & set(w.grid_ids)
    assert_recovers(w, given, unreadable=1)


def test_the_widget_names_images_found_unreadable_during_a_cycle(file_pool, tiny_learner, make_widget):
    learner = tiny_learner(file_pool)
    w = make_widget(learner, k=6)
    click_truth(w, 6)
    victims = _unread(w, 2)
    _overwrite_with_garbage(victims)
    retrain_through_widget(w)
    assert learner.history[-1].ok
    shown = w.message + w.error + w.status
    assert all(v in shown or v.split("/")[-1] in shown for v in victims), shown
