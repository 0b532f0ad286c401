"""The representation cache: keying, atomic writes, stale and corrupted files, resume."""

from __future__ import annotations

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


def test_without_a_folder_nothing_is_written():
    cache = RepresentationCache({"pool": "p"}, None)
    cache.save({"raw": torch.zeros(1)})
    cache.save_partial({"step": 1})
    assert cache.load() is None and cache.load_partial() is None and cache.path is None
