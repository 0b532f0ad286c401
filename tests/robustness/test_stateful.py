"""A stateful property test: the learner and its store always agree with a reference model.

Hypothesis interleaves teach / undo / query / retrain_async / cancel / wait / reopen (close the
learner and build a new one on the same store path) at random, while background cycles run.
After every step the store and the learner must hold exactly the labels of a plain reference
model: no label lost, duplicated or resurrected.

The reference model is the journal semantics of the design: each label is an event; an undo
cancels the most recent label still in force (of one item, or of any item); an item's label is
its latest event still in force; validation items go to the validation split.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from alwidget import ActiveLearner, Backbone, datasets
from alwidget.uncertainty import MCDropout
from alwidget.progress import CycleCancelled

from .conftest import TALLY, TINY_TRAIN

pytestmark = [pytest.mark.timeout(300)]

_DIGITS = datasets.digits()
POOL = _DIGITS.subset(_DIGITS.ids[:120])
CLASSES = list(POOL.classes)
IDS = list(POOL.ids)


def open_learner(path: Path) -> ActiveLearner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # the default mode, with a 5-step representation (built in the background on open)
        return ActiveLearner(POOL, store=path, backbone=Backbone(image_size=16), train=dict(TINY_TRAIN),
                             uncertainty=MCDropout(n_samples=2),
                             validation_size=12, seed=0, representation_config={"steps": 5, "batch_size": 32})


class Reference:
    """Labels as a list of events in force, oldest first: ``(item, label)``."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, str]] = []
        self.writes = 0

    def teach(self, items, labels) -> None:
        self.events.extend(zip(items, labels))
        self.writes += len(items)

    def undo(self, item: Optional[str]) -> Optional[Tuple[str, str]]:
        for i in range(len(self.events) - 1, -1, -1):
            if item is None or self.events[i][0] == item:
                return self.events.pop(i)
        return None

    def current(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for item, label in self.events:
            out.pop(item, None)  # keep the order of the latest event, like the store
            out[item] = label
        return out


class LearnerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="alw-stateful-"))
        self.path = self.dir / "labels.db"
        self.learner = open_learner(self.path)
        self.validation = set(self.learner.validation_ids)
        self.ref = Reference()
        self.future = None
        TALLY["stateful_runs"] += 1

    # ------------------------------------------------------------------ rules
    @initialize(items=st.lists(st.sampled_from(IDS), min_size=2, max_size=8, unique=True),
                labels=st.lists(st.sampled_from(CLASSES), min_size=8, max_size=8))
    def first_labels(self, items, labels):
        """Start with a few labels, so that most cycles have something to train on."""
        self.teach(items, labels)

    @rule(item=st.sampled_from(IDS), label=st.sampled_from(CLASSES))
    def teach_one(self, item, label):
        self.teach([item], [label])

    @rule(items=st.lists(st.sampled_from(IDS), min_size=1, max_size=3),
          labels=st.lists(st.sampled_from(CLASSES), min_size=3, max_size=3))
    def teach(self, items, labels):
        labels = labels[: len(items)]
        self.learner.teach(items, labels)
        self.ref.teach(items, labels)

    @rule(item=st.sampled_from(IDS), label=st.sampled_from(CLASSES))
    def teach_with_one_bad_label(self, item, label):
        """A batch with one label outside the classes writes nothing."""
        with pytest.raises(ValueError, match="not one of the classes"):
            self.learner.teach([item, item], [label, "no such class"])

    @rule(item=st.one_of(st.none(), st.sampled_from(IDS)))
    def undo(self, item):
        event = self.learner.undo(item)
        expected = self.ref.undo(item)
        got = None if event is None else (event.item_id, event.label)
        assert got == expected

    @rule(k=st.integers(0, 30))
    def query(self, k):
        picked = self.learner.query(k)
        taken = set(self.ref.current()) | self.validation
        assert len(picked) == len(set(picked))
        assert not set(picked) & taken, "query returned a labelled or validation item"
        assert len(picked) == min(k, len(IDS) - len(taken))

    @rule()
    def retrain_async(self):
        self.future = self.learner.retrain_async()

    @rule()
    def cancel(self):
        self.learner.cancel()

    @precondition(lambda self: self.future is not None)
    @rule()
    def wait(self):
        future, self.future = self.future, None
        try:
            rep = future.result(timeout=120)
        except CycleCancelled:
            assert self.learner.history[-1].error == "the cycle was cancelled"
            return
        except ValueError as exc:
            assert "no training labels" in str(exc)
            return
        assert rep.ok and rep in self.learner.history
        assert rep.n_labels <= len(self.learner.labels) or rep.stale

    @rule()
    def reopen(self):
        self.learner.close()  # cancels a running cycle and waits for the worker
        self.future = None
        self.learner = open_learner(self.path)
        assert set(self.learner.validation_ids) == self.validation

    # ------------------------------------------------------------------ invariants
    @invariant()
    def store_and_learner_agree_with_the_reference(self):
        want = self.ref.current()
        got = self.learner.store.labels(split=None)
        TALLY["stateful_steps"] += 1
        if got != want:
            TALLY["stateful_mismatches"] += 1
        assert got == want  # nothing lost, nothing resurrected
        assert list(got) == list(want)  # in the order the labels were given
        assert self.learner.labels == {i: lab for i, lab in want.items() if i not in self.validation}
        assert self.learner.store.labels(split="validation") == {
            i: lab for i, lab in want.items() if i in self.validation}
        current = [e.item_id for e in self.learner.store.events()]
        assert len(current) == len(set(current)) == len(want)  # no duplicate
        journal = self.learner.store.history()
        assert sum(kind == "set" for kind, _, _ in journal) == self.ref.writes  # each label written once
        assert self.learner.store.counts() == {
            "train": sum(i not in self.validation for i in want),
            "validation": sum(i in self.validation for i in want)}

    def teardown(self):
        try:
            TALLY["stateful_labels"] += self.ref.writes
            self.learner.close()
            # a fresh process-free reopen sees the same labels: durable, not only cached
            again = open_learner(self.path)
            try:
                assert again.store.labels(split=None) == self.ref.current()
            finally:
                again.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


LearnerMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_learner_and_store_agree_with_a_reference_model = pytest.mark.slow(LearnerMachine.TestCase)
