"""SlowCycles: which slow cycle runs for which choice of the labels, settings, results' names.

The two cycles are recorders with :class:`~alwidget.representation.SlowCycle`'s interface (the
real cycles are run in ``tests/representation/test_slow_cycle.py`` and the learner's tests)."""

from __future__ import annotations

import numpy as np
import pytest

from alwidget.representation import SlowCycles


class Recorder:
    def __init__(self, due_from: int = 10) -> None:
        self.every, self.where, self.running, self.due_from = 10, "inline", False, due_from
        self.calls, self.result_ = [], None

    def due(self, n: int) -> bool:
        return n >= self.due_from

    def run(self, pos, y, **kw):
        self.calls.append(("run", len(pos), kw["n_pseudo"], kw["seed"]))
        self.result_ = (f"rep{len(self.calls)}", kw["n_labels"])
        return self.result_[0]

    def start(self, pos, y, **kw):
        self.calls.append(("start", len(pos), kw["n_pseudo"], kw["seed"]))

    def latest(self):
        return self.result_ if self.result_ else (None, 0)

    def cancel(self, wait=None):
        self.calls.append(("cancel", wait))
        return True

    status = "idle"


def _cycles(where="inline"):
    s = SlowCycles(every=10, where=where)
    s.trunk, s.adapt = Recorder(), Recorder()
    return s


LABELS = (np.arange(12), np.zeros(12, dtype=np.int64))


def _with_pseudo():
    return np.arange(20), np.zeros(20, dtype=np.int64), 8


@pytest.mark.parametrize("chosen, trunk_runs, adapter_runs", [
    ("contrastive", True, False),   # the labels use the trunk learned here: fine-tune it
    (None, True, False),            # no choice yet: the trunk learned here
    ("pretrained", False, True),    # the pretrained features lead: adapt them, leave the trunk
    ("pca", False, False),          # the pixels lead: neither (the CPU is not spent for nothing)
])
def test_only_the_representation_the_labels_use_is_refined(chosen, trunk_runs, adapter_runs):
    s = _cycles()
    s.step(chosen, "contrastive", 12, _with_pseudo, LABELS, seeds=(1, 2))
    assert s.trunk.calls == ([("run", 20, 8, 2)] if trunk_runs else [])  # labels + pseudo-labels, its seed
    assert s.adapt.calls == ([("run", 12, 0, 1)] if adapter_runs else [])  # the labels alone, its seed


def test_not_due_running_or_background():
    s = _cycles()
    s.step("contrastive", "contrastive", 9, _with_pseudo, LABELS, seeds=(1, 2))  # not due at 9 labels
    s.trunk.running = True
    s.step("contrastive", "contrastive", 12, _with_pseudo, LABELS, seeds=(1, 2))  # one at a time
    assert s.trunk.calls == []
    s.trunk.running = False
    s.where = "background"
    assert s.trunk.where == s.adapt.where == "background"
    s.step("contrastive", "contrastive", 12, _with_pseudo, LABELS, seeds=(1, 2))
    assert s.trunk.calls == [("start", 20, 8, 2)]


def test_settings_are_checked_and_reach_both_cycles():
    s = _cycles()
    s.every = None
    assert s.trunk.every is None and s.adapt.every is None
    with pytest.raises(ValueError, match="positive number of labels or None"):
        s.every = 0
    with pytest.raises(ValueError, match="'background' or 'inline'"):
        SlowCycles(every=5, where="later")
    empty = SlowCycles(every=None, where="inline")
    assert empty.cycles == [] and empty.status == "no slow cycle in this mode" and not empty.running
    with pytest.raises(RuntimeError, match="has none"):
        empty.run_trunk(*LABELS, n_labels=12, n_pseudo=0, seed=0)


def test_results_are_named_after_what_they_replace():
    s = _cycles()
    assert s.results("contrastive") == {}
    s.step("contrastive", "contrastive", 12, _with_pseudo, LABELS, seeds=(1, 2))
    s.step("pretrained", "contrastive", 12, _with_pseudo, LABELS, seeds=(1, 2))
    assert s.results("contrastive") == {"contrastive": ("contrastive+refined", "rep1", 12),
                                        "pretrained": ("pretrained+adapted", "rep1", 12)}
    s.cancel(wait=3)
    assert s.trunk.calls[-1] == s.adapt.calls[-1] == ("cancel", 3)
