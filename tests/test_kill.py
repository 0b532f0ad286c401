"""SIGKILL a labelling process: every acknowledged label must be in the reopened store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from alwidget import ActiveLearner, LabelStore

WRITER = Path(__file__).with_name("learner_writer.py")


def _label_then_kill(store: Path, n_acks: int, background: bool) -> dict:
    args = [sys.executable, str(WRITER), str(store)] + (["--background"] if background else [])
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked = {}
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        while len(acked) < n_acks:
            line = child.stdout.readline()
            assert line, f"writer ended early: {child.stderr.read()}"
            _, item, label = line.split()
            acked[item] = label
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return acked


@pytest.mark.slow
@pytest.mark.parametrize("n_acks,background", [(7, False), (53, False), (40, True)])
def test_kill_loses_no_acknowledged_label(tmp_path, small_pool, n_acks, background):
    store = tmp_path / "labels.db"
    acked = _label_then_kill(store, n_acks, background)
    with LabelStore(store) as reopened:
        saved = reopened.labels()
    assert {i: saved.get(i) for i in acked} == acked  # 0 of the acknowledged labels lost
    # the session resumes: same validation set, the labels are there, queries skip them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = ActiveLearner(small_pool, store=store, validation_size=30, image_size=16, seed=0)
    assert set(acked) <= set(learner.labels)
    assert not set(learner.query(500)) & set(acked)
    learner.close()
