"""The representation cache: keying, atomic writes, stale and corrupted files, resume."""

from __future__ import annotations

import os

import pytest
import torch

from alwidget.representation import RepresentationCache, cache_digest


def test_digest_depends_on_every_setting_but_not_on_order():
    a = {"pool": "p1", "seed": 0, "config": {"steps": 10}}
    assert cache_digest(a) == cache_digest({"config": {"steps": 10}, "seed": 0, "pool": "p1"})
    assert cache_digest(a) != cache_digest(dict(a, pool="p2"))
    assert cache_digest(a) != cache_digest(dict(a, config={"steps": 11}))


def test_save_load_roundtrip_and_no_temporary_file_left(tmp_path):
    cache = RepresentationCache({"pool": "p", "seed": 0}, tmp_path)
    cache.save_partial({"step": 3, "w": torch.ones(2)})
    assert cache.load_partial()["step"] == 3
    cache.save({"raw": torch.arange(6.0).view(3, 2)})
    assert not cache.partial_path.exists()  # the finished file replaces the checkpoint
    assert torch.equal(cache.load()["raw"], torch.arange(6.0).view(3, 2))
    assert [p.name for p in tmp_path.iterdir()] == [cache.path.name]


def test_truncated_file_is_rebuilt_with_a_warning(tmp_path):
    cache = RepresentationCache({"pool": "p"}, tmp_path)
    cache.save({"raw": torch.zeros(100, 8)})
    data = cache.path.read_bytes()
    cache.path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="cannot be read"):
        assert cache.load() is None
    assert any("rebuilt" in m for m in cache.messages)


def test_file_with_another_key_is_not_used(tmp_path):
    cache = RepresentationCache({"pool": "p"}, tmp_path)
    cache.save({"raw": torch.zeros(2, 2)})
    other = RepresentationCache({"pool": "q"}, tmp_path)
    other.path.write_bytes(cache.path.read_bytes())  # e.g. a file copied by hand under the wrong name
    with pytest.warns(UserWarning, match="other settings or another pool"):
        assert other.load() is None


def test_other_pools_are_noted(tmp_path):
    RepresentationCache({"pool": "p"}, tmp_path).save({"raw": torch.zeros(1, 1)})
    fresh = RepresentationCache({"pool": "q"}, tmp_path)
    assert fresh.load() is None
    assert any("another pool" in m for m in fresh.messages)


def test_a_killed_writes_temporary_file_is_swept_but_a_live_writers_is_kept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid whose process is gone (a kill -9 mid-write leaves exactly this)
    cache = RepresentationCache({"a": 1}, tmp_path)
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / f"{cache.partial_path.name}.tmp{dead.pid}"
    live = tmp_path / f"{cache.path.name}.tmp{os.getppid()}"
    other = tmp_path / "notes.txt.tmp1"
    for f in (stale, live, other):
        f.write_bytes(b"half")
    assert cache.load_partial() is None
    assert not stale.exists() and live.exists() and other.exists()
    assert cache.sweep_stale() == 0


def test_without_a_folder_nothing_is_written():
    cache = RepresentationCache({"pool": "p"}, None)
    cache.save({"raw": torch.zeros(1)})
    cache.save_partial({"step": 1})
    assert cache.load() is None and cache.load_partial() is None and cache.path is None


class _CountingTrunk(torch.nn.Module):
    """Images ``[B, 1, S, S]`` to their first 8 pixel values; counts the images embedded by any
    copy (the builder embeds with a deep copy of its trunk) in the class attribute ``seen``."""

    num_features = 8
    seen = 0

    def forward(self, x):
        type(self).seen += int(x.shape[0])
        return x.flatten(1)[:, :8].float()


def test_a_streamed_pass_killed_half_way_resumes_where_it_stopped(small_pool, tmp_path, monkeypatch):
    """A streamed (pretrained-style) pass checkpoints the rows done; the next build embeds only
    the rest, and the result equals one uninterrupted pass."""
    from alwidget.data.tensors import PoolTensors
    from alwidget.progress import CancelToken, CycleCancelled
    from alwidget.representation import PoolRepresentation
    from alwidget.representation import builder

    monkeypatch.setattr(builder, "STREAM_CHECKPOINT_S", 0.0)  # a checkpoint after every chunk

    def rep(trunk, cache_dir):
        tensors = PoolTensors(small_pool, 8, 1, (0.5,), (0.5,), chunk_rows=50)
        return PoolRepresentation(tensors, trunk, 8, method="frozen", stream=True, seed=0,
                                  cache=RepresentationCache({"test": "stream"}, cache_dir))

    token = CancelToken()
    killed = rep(_CountingTrunk(), tmp_path)
    with pytest.raises(CycleCancelled):
        killed.build(progress=lambda step, f: token.cancel() if f >= 0.5 else None, cancel=token)
    saved = killed.cache.load_partial()
    assert saved["stream_rows"] == 150 and saved["stream_raw"].shape == (150, 8)
    _CountingTrunk.seen = 0
    resumed = rep(_CountingTrunk(), tmp_path).build()
    assert _CountingTrunk.seen == 150  # rows 150-299 only
    assert not killed.cache.partial_path.exists()  # the finished file replaced the checkpoint
    whole = rep(_CountingTrunk(), tmp_path / "fresh").build()
    torch.testing.assert_close(resumed.raw_N_D, whole.raw_N_D)


class _SlowCountingTrunk(_CountingTrunk):
    """:class:`_CountingTrunk` that takes 20 ms per batch, so two builds started together overlap."""

    def forward(self, x):
        import time

        time.sleep(0.02)
        return super().forward(x)


def test_two_builders_of_one_cached_representation_embed_the_pool_once(small_pool, tmp_path):
    """Two learners on the same pool and settings in one kernel (a session and its random-selection
    baseline): the second waits for the first's build and loads it, instead of a second pass that
    doubles the work and, at 224 px, the memory."""
    from alwidget.data.tensors import PoolTensors
    from alwidget.representation import PoolRepresentation

    def rep():
        tensors = PoolTensors(small_pool, 8, 1, (0.5,), (0.5,), chunk_rows=50)
        return PoolRepresentation(tensors, _SlowCountingTrunk(), 8, method="frozen", stream=True, seed=0,
                                  cache=RepresentationCache({"test": "shared"}, tmp_path))

    _SlowCountingTrunk.seen = 0
    first, second = rep(), rep()
    steps = []
    second.callbacks.append(lambda step, f: steps.append(step))
    first.start()
    while first.step == "pending" and not first.wait(0.005):  # the first holds the file's lock first
        pass
    second.start()
    a, b = first.result(), second.result()
    assert _SlowCountingTrunk.seen == len(small_pool)  # one pass, not two
    assert not a.from_cache and b.from_cache
    assert steps[0] == "wait"
    torch.testing.assert_close(a.raw_N_D, b.raw_N_D)


def test_a_waiting_builder_can_be_cancelled(small_pool, tmp_path):
    from alwidget.data.tensors import PoolTensors
    from alwidget.progress import CancelToken, CycleCancelled
    from alwidget.representation import PoolRepresentation, builder

    cache = RepresentationCache({"test": "held"}, tmp_path)
    tensors = PoolTensors(small_pool, 8, 1, (0.5,), (0.5,), chunk_rows=50)
    waiting = PoolRepresentation(tensors, _CountingTrunk(), 8, method="frozen", stream=True, seed=0, cache=cache)
    lock = builder._build_lock(cache)
    token = CancelToken()
    with lock:  # another builder holds the file
        token.cancel()
        with pytest.raises(CycleCancelled, match="waiting for another learner"):
            waiting.build(cancel=token)
    assert "waiting" not in waiting.status()
