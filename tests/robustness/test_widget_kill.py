"""SIGKILL a kernel that labels through the widget: every label a card showed as given survives.

``tests/test_kill.py`` kills a process labelling through ``ActiveLearner.teach``; here the
labels come from clicks on the widget's class buttons, with the widget's own background cycle
running, which is what a person in a notebook does. After the kill the store is reopened, a
new learner and widget resume the session: the labels are there, in the recent list, and the
grid never offers them again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from alwidget import LabelStore

from .conftest import TALLY

WRITER = Path(__file__).with_name("widget_writer.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.mark.parametrize("n_acks", [5, 23])  # before the first submit; during a background cycle
def test_kill_while_clicking_loses_no_label_shown_as_given(tmp_path, digits120, tiny_learner, make_widget, label_then_kill, n_acks):
    store = tmp_path / "labels.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get(
        "PYTHONPATH", "").split(os.pathsep) if p]))
    acked = label_then_kill([sys.executable, str(WRITER), str(store)], n_acks, env=env)
    with LabelStore(store) as reopened:
        saved = reopened.labels()
        journal = [e.item_id for kind, e, _ in reopened.history() if kind == "set" and e.split == "train"]
    lost = sum(saved.get(i) != lab for i, lab in acked.items())
    TALLY["fault_cases"] += 1
    TALLY["fault_labels_given"] += len(acked)
    TALLY["fault_labels_lost"] += lost
    assert lost == 0, {i: (lab, saved.get(i)) for i, lab in acked.items() if saved.get(i) != lab}
    assert len(journal) == len(set(journal))  # each click written once
    # the session resumes in a new kernel: same labels, in the widget, never offered again
    learner = tiny_learner(digits120, store=store)
    w = make_widget(learner, k=6)
    assert set(acked) <= set(learner.labels)
    assert f"<b>{len(learner.labels)}</b> labels" in w.status
    recent = {event.item_id for event in w.recent_events}
    assert recent and recent <= set(learner.store.labels(split=None))
    assert not set(w.grid_ids) & set(acked)
    assert not set(learner.query(500)) & set(acked)
    w.retrain()
    assert w.wait(90) and learner.history[-1].ok
