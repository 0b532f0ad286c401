"""SIGKILL a labelling process: every acknowledged label must be in the reopened store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from alwidget import LabelStore

WRITER = Path(__file__).with_name("learner_writer.py")


@pytest.mark.slow
@pytest.mark.parametrize("n_acks,background", [(7, False), (53, False), (40, True)])
def test_kill_loses_no_acknowledged_label(tmp_path, small_pool, learners, label_then_kill, n_acks, background):
    store = tmp_path / "labels.db"
    acked = label_then_kill([sys.executable, str(WRITER), str(store)] + (["--background"] if background else []), n_acks)
    with LabelStore(store) as reopened:
        saved = reopened.labels()
    assert {i: saved.get(i) for i in acked} == acked  # 0 of the acknowledged labels lost
    # the session resumes: same validation set, the labels are there, queries skip them
    learner = learners(small_pool, dict(store=store, validation_size=30, image_size=16, seed=0))
    assert set(acked) <= set(learner.labels)
    assert not set(learner.query(500)) & set(acked)


@pytest.mark.parametrize("n_acks", [3, 22])
def test_kill_loses_no_acknowledged_group_and_leaves_none_half_written(tmp_path, label_then_kill, n_acks):
    """Labels given as groups of five (a region of the map): every acknowledged one survives a
    SIGKILL, and each group in the file is whole (one transaction), so one undo takes it back."""
    store = tmp_path / "labels.db"
    acked = label_then_kill([sys.executable, str(WRITER), str(store), "--groups"], n_acks)
    with LabelStore(store) as reopened:
        saved = reopened.labels()
        assert {i: saved.get(i) for i in acked} == acked
        groups = {}
        for item in saved:
            event = reopened.get(item)
            assert event.source == "map" and event.group is not None
            groups.setdefault(event.group, []).append(item)
        assert all(len(items) == 5 for items in groups.values()), groups  # none half-written
        last = reopened.undo()
        assert len(reopened.labels()) == len(saved) - 5 and last.group is not None
