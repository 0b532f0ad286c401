"""Background work ends before the interpreter does (:mod:`alwidget._shutdown`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from alwidget import LabelStore, _shutdown
from alwidget.progress import CancelToken, CycleCancelled

WRITER = Path(__file__).with_name("exit_writer.py")


# ---------------------------------------------------------------- a script that ends without close()
@pytest.mark.slow
@pytest.mark.parametrize("phase", ["representation", "slow", "check", "cycle"])
def test_script_ending_during_background_work_exits_cleanly(tmp_path, phase):
    """Before :mod:`alwidget._shutdown` the first two aborted (status 134: torch torn down
    mid-call) and ``cycle`` hung until the 100,000-step build ended."""
    store, cache = tmp_path / "labels.db", tmp_path / "cache"
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, str(WRITER), str(store), phase, str(cache)],
                         capture_output=True, text=True, timeout=240)
    seconds = time.monotonic() - t0
    said = f"after {seconds:.0f} s, status {run.returncode}\nstdout: {run.stdout[-800:]}\nstderr: {run.stderr[-2000:]}"
    assert run.returncode == 0, said
    assert "terminate called" not in run.stderr, said
    assert "still running" not in run.stderr, said  # everything stopped within the bound
    lines = run.stdout.splitlines()
    assert f"running {phase} True" in lines, said  # the work was under way when the script ended
    acked = dict(line.split()[1:] for line in lines if line.startswith("ack "))
    assert len(acked) == {"representation": 20, "slow": 100, "check": 50, "cycle": 50}[phase]
    with LabelStore(store) as reopened:
        saved = reopened.labels()
    assert {i: str(saved.get(i)) for i in acked} == acked  # every acknowledged label kept
    assert seconds < 200, said  # not a wait for the 100,000-step work to finish
    # the cache folder holds only whole files: finished ones or a checkpoint, never a temporary
    files = sorted(p.name for p in cache.glob("*")) if cache.exists() else []
    assert not [f for f in files if ".tmp" in f], (files, said)
    for f in cache.glob("*.pt"):
        torch.load(f, map_location="cpu", weights_only=True)  # readable
    if phase == "slow":  # the trunk finished before the slow cycle started: it stays cached
        assert [f for f in files if f.endswith(".pt") and ".partial" not in f], files


# ---------------------------------------------------------------- Background and stop_all
class _Part:
    def __init__(self, ends_on_cancel: bool = True) -> None:
        self.cancelled = threading.Event()
        self.ends_on_cancel = ends_on_cancel

    def cancel(self) -> None:
        self.cancelled.set()

    def join(self, timeout=None) -> bool:
        if self.ends_on_cancel:
            return self.cancelled.wait(timeout)
        time.sleep(timeout or 0)
        return False


def test_background_cancels_every_part_and_joins_within_one_bound():
    bg = _shutdown.Background()
    a, b, c = _Part(), _Part(ends_on_cancel=False), _Part(ends_on_cancel=False)
    bg.add("a", a)
    bg.add("b", b)
    bg.add("c", c)
    t0 = time.monotonic()
    assert bg.stop(timeout=0.3) is False  # b and c never end
    assert time.monotonic() - t0 < 0.6  # one bound for all parts, not 0.3 s each
    assert a.cancelled.is_set() and b.cancelled.is_set() and c.cancelled.is_set()
    bg2 = _shutdown.Background()
    bg2.add("a", _Part())
    assert bg2.stop(timeout=5) is True


def test_background_part_replaced_by_name_and_needs_cancel():
    bg = _shutdown.Background()
    old, new = _Part(), _Part()
    bg.add("cycle", old)
    bg.add("cycle", new)
    bg.cancel()
    assert new.cancelled.is_set() and not old.cancelled.is_set()
    with pytest.raises(TypeError, match="cancel"):
        bg.add("x", object())


def test_future_work_cancels_its_token_and_waits_for_the_future():
    from concurrent.futures import ThreadPoolExecutor

    token = CancelToken()

    def work():
        while not token.cancelled:
            time.sleep(0.01)
        raise CycleCancelled("stopped")

    with ThreadPoolExecutor(1) as ex:
        part = _shutdown.FutureWork(ex.submit(work), token)
        assert part.join(0.05) is False
        part.cancel()
        assert part.join(5) is True


def test_stop_all_cancels_watched_work_and_joins_the_package_threads(monkeypatch):
    monkeypatch.setattr(_shutdown, "_watched", __import__("weakref").WeakSet())
    monkeypatch.setattr(_shutdown, "_install", lambda: None)
    stop = threading.Event()

    class Looping:
        def cancel(self):
            stop.set()

    bg = _shutdown.Background()
    bg.add("loop", Looping())
    _shutdown.watch(bg)
    thread = threading.Thread(target=lambda: stop.wait(30), name="alwidget-test-loop", daemon=True)
    thread.start()
    assert _shutdown.stop_all(timeout=10) == []
    assert not thread.is_alive()


def test_stop_all_names_what_outlived_the_bound_and_ignores_other_threads(monkeypatch):
    monkeypatch.setattr(_shutdown, "_watched", __import__("weakref").WeakSet())
    release = threading.Event()
    stuck = threading.Thread(target=lambda: release.wait(30), name="alwidget-test-stuck", daemon=True)
    foreign = threading.Thread(target=lambda: release.wait(30), name="someone-else", daemon=True)
    idle = threading.Thread(target=lambda: release.wait(30), name="alwidget-cycle_0", daemon=True)
    for t in (stuck, foreign, idle):
        t.start()
    try:
        t0 = time.monotonic()
        assert _shutdown.stop_all(timeout=0.3) == ["alwidget-test-stuck"]
        assert time.monotonic() - t0 < 2
    finally:
        release.set()
        for t in (stuck, foreign, idle):
            t.join(5)


def test_exit_wait_reads_the_environment(monkeypatch):
    monkeypatch.delenv("ALWIDGET_EXIT_WAIT", raising=False)
    assert _shutdown.exit_wait() == _shutdown.EXIT_WAIT_S
    monkeypatch.setenv("ALWIDGET_EXIT_WAIT", "2.5")
    assert _shutdown.exit_wait() == 2.5
    for bad in ("soon", "-1"):
        monkeypatch.setenv("ALWIDGET_EXIT_WAIT", bad)
        with pytest.raises(ValueError, match="ALWIDGET_EXIT_WAIT"):
            _shutdown.exit_wait()


def test_no_new_build_or_slow_cycle_starts_while_the_interpreter_exits(monkeypatch, small_pool):
    import numpy as np

    from alwidget.model.backbone import create_backbone
    from alwidget.data.tensors import PoolTensors
    from alwidget.representation import PoolRepresentation, RefineConfig, RepresentationCache, SlowCycle

    trunk, info = create_backbone("alwidget_cnn", in_chans=1)
    tensors = PoolTensors(small_pool, 16, 1, info.mean, info.std)
    rep = PoolRepresentation(tensors, trunk, info.num_features, method="frozen",
                             cache=RepresentationCache({"test": "exiting"}, None), seed=0)
    slow = SlowCycle(rep, tensors, 10, RefineConfig(steps=4, batch_size=16), every=50)
    monkeypatch.setattr(_shutdown, "_exiting", True)
    rep.start()
    assert not rep.running
    with pytest.raises(CycleCancelled):  # a waiter is told, not left waiting
        rep.result()
    assert slow.start(np.arange(40), np.arange(40) % 10, n_labels=40, n_pseudo=0, seed=0) is False
    monkeypatch.setattr(_shutdown, "_exiting", False)
    assert rep.result().features_N_D.shape[0] == len(small_pool)  # built as usual otherwise


def test_a_weak_part_does_not_keep_its_owner_alive():
    """A widget's label checker holds its learner; registered weakly, it does not keep the learner
    (and its work) alive through the learner's own finalizer."""
    import gc
    import weakref

    class Owner:
        def __init__(self):
            self.background = _shutdown.Background()
            self.part = _Part()
            self.part.owner = self  # the part holds its owner, as the checker holds the learner
            self.background.add("check", self.part, weak=True)
            weakref.finalize(self, self.background.cancel)

    owner = Owner()
    part, gone = owner.part, weakref.ref(owner)
    owner.background.cancel()
    assert part.cancelled.is_set()  # used while alive
    del owner, part
    gc.collect()
    assert gone() is None
    strong = Owner()
    strong.background.add("check", strong.part)  # held strongly: the finalizer keeps it alive
    leak = weakref.ref(strong)
    del strong
    gc.collect()
    assert leak() is not None
