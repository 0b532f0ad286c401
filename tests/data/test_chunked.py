"""The on-disk chunked array and the memory budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from alwidget.data.budget import BASELINE_BYTES, GRAPH_BYTES_PER_ITEM, PER_ITEM_BYTES, parse_bytes, plan_memory
from alwidget.data.chunked import ChunkedArray


def test_chunks_written_read_and_reopened(tmp_path):
    arr = ChunkedArray.open(tmp_path / "a", {"k": 1}, (10, 3), np.float32, 4)
    assert arr.n_chunks == 3 and arr.missing() == [0, 1, 2] and arr.bounds(2) == (8, 10)
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    arr.write_chunk(1, data[4:8], extra={"failed": {"5": "bad"}})
    again = ChunkedArray.open(tmp_path / "a", {"k": 1}, (10, 3), np.float32, 4)
    assert again.missing() == [0, 2] and again.extra(1) == {"failed": {"5": "bad"}}
    np.testing.assert_array_equal(again.read(4, 8), data[4:8])
    np.testing.assert_array_equal(again.take([7, 4, 4]), data[[7, 4, 4]])
    with pytest.raises(ValueError, match="needs shape"):
        again.write_chunk(2, data[:3])
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "data.npy")[4:8], data[4:8])  # a plain .npy file


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.integers(0, 199), min_size=0, max_size=60), start=st.integers(0, 200),
       length=st.integers(0, 210))
def test_reads_and_takes_are_the_rows_of_the_file(tmp_path_factory, rows, start, length):
    """Plain file reads (runs of consecutive rows, any order, repeats) give what indexing the
    ``.npy`` file gives, for images (uint8, 3-d rows) and features (float32)."""
    folder = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (200, 3, 4, 4), dtype=np.uint8)
    feats = rng.normal(size=(200, 5)).astype(np.float32)
    for name, data in (("img", images), ("feat", feats)):
        arr = ChunkedArray.open(folder / name, {"k": name}, data.shape, data.dtype, 64)
        for c in range(arr.n_chunks):
            a, b = arr.bounds(c)
            arr.write_chunk(c, data[a:b])
        np.testing.assert_array_equal(arr.take(rows), data[np.asarray(rows, dtype=np.int64)])
        np.testing.assert_array_equal(arr.read(start, start + length), data[start:start + length])
    with pytest.raises(IndexError, match="rows must be in 0..199"):
        arr.take([3, 200])


def test_other_settings_rebuild_with_a_warning(tmp_path):
    arr = ChunkedArray.open(tmp_path / "a", {"k": 1}, (10, 3), np.float32, 4)
    arr.write_chunk(0, np.ones((4, 3), np.float32))
    with pytest.warns(UserWarning, match="other settings"):
        other = ChunkedArray.open(tmp_path / "a", {"k": 2}, (10, 3), np.float32, 4)
    assert other.missing() == [0, 1, 2]
    (tmp_path / "a" / "meta.json").write_text("{not json")
    with pytest.warns(UserWarning, match="cannot be read"):
        assert ChunkedArray.open(tmp_path / "a", {"k": 2}, (10, 3), np.float32, 4).missing() == [0, 1, 2]


def test_a_process_killed_mid_pass_leaves_whole_chunks_only(tmp_path):
    """A child writes chunks and dies (os._exit) halfway through the third: the reopened array has
    exactly the two finished chunks, and a second pass fills the rest."""
    code = textwrap.dedent(f"""
        import os, numpy as np
        from alwidget.data.chunked import ChunkedArray
        arr = ChunkedArray.open({str(tmp_path / 'a')!r}, {{"k": 1}}, (1000, 8), np.int64, 100)
        for c in range(arr.n_chunks):
            s, e = arr.bounds(c)
            if c == 2:
                mm = np.load({str(tmp_path / 'a' / 'data.npy')!r}, mmap_mode="r+")
                mm[s:s + 50] = -1          # half a chunk on disk, never marked done
                mm.flush()
                os._exit(9)
            arr.write_chunk(c, np.arange(s * 8, e * 8).reshape(-1, 8))
    """)
    res = subprocess.run([sys.executable, "-c", code])
    assert res.returncode == 9
    arr = ChunkedArray.open(tmp_path / "a", {"k": 1}, (1000, 8), np.int64, 100)
    assert arr.missing() == list(range(2, 10))
    for c in arr.missing():
        s, e = arr.bounds(c)
        arr.write_chunk(c, np.arange(s * 8, e * 8).reshape(-1, 8))
    np.testing.assert_array_equal(arr.read(0, 1000), np.arange(8000).reshape(1000, 8))


@pytest.mark.parametrize("text, expected", [("2GB", 2 * 2**30), ("512 MiB", 512 * 2**20), ("1.5g", int(1.5 * 2**30)),
                                            (1000, 1000), (None, None)])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1GB", 0, "2 parsecs", True])
def test_parse_bytes_refuses_nonsense(bad):
    with pytest.raises(ValueError, match="memory_limit"):
        parse_bytes(bad)


def test_the_plan_keeps_what_fits():
    small = plan_memory(10_000, image_bytes=3072, feature_bytes=128, n_classes=10)
    assert small.images_in_memory and small.features_in_memory and not small.on_disk
    big = plan_memory(1_000_000, image_bytes=3072, feature_bytes=128, n_classes=10)
    assert not big.images_in_memory and big.features_in_memory  # 3 GB of pixels go to disk, 128 MB stay
    assert big.fixed_bytes == BASELINE_BYTES + 1_000_000 * (PER_ITEM_BYTES + 80)
    huge = plan_memory(1_000_000, image_bytes=3072, feature_bytes=4 * 2048, n_classes=10)
    assert not huge.features_in_memory
    assert plan_memory(10**7, image_bytes=3072, feature_bytes=128, n_classes=10, limit=None).images_in_memory
    # the kNN graphs (semi mode) come before features: they count in the fixed part and push the rest out
    graphs = plan_memory(1_000_000, image_bytes=3072, feature_bytes=4 * 64, n_classes=10, graphs=1, limit="2.3GB")
    assert graphs.graphs_in_memory == graphs.graphs_wanted == 1 and graphs.graphs_dropped == 0
    assert graphs.fixed_bytes == big.fixed_bytes + 1_000_000 * GRAPH_BYTES_PER_ITEM
    assert plan_memory(1_000_000, image_bytes=3072, feature_bytes=4 * 64, n_classes=10,
                       limit="2.3GB").features_in_memory
    assert not graphs.features_in_memory  # 244 MB of features no longer fit beside 732 MB of one graph
    assert not big.over_budget and "over the limit" not in big.describe()
    assert not graphs.over_budget


def test_the_plan_keeps_the_graphs_that_fit_and_no_more():
    """Hand-computed: the fixed part is 700 MiB + N × 680 B (bookkeeping and ten float64 beliefs);
    each graph N × 768 B; as many graphs as the budget holds beside the fixed part."""
    n = 1_000_000
    fixed = BASELINE_BYTES + n * (PER_ITEM_BYTES + 80)  # 1,414,017,600 B
    assert fixed == 700 * 2**20 + 680 * n
    one_graph = n * GRAPH_BYTES_PER_ITEM  # 768,000,000 B
    at_2gb = plan_memory(n, image_bytes=3072, feature_bytes=512, n_classes=10, graphs=3)
    # 2 GiB - 1,414,017,600 = 733,465,048 B free: not one 768 MB graph
    assert (at_2gb.graphs_wanted, at_2gb.graphs_in_memory, at_2gb.graphs_dropped) == (3, 0, 3)
    assert at_2gb.fixed_bytes == fixed and not at_2gb.over_budget
    assert "kNN graphs for 0 of 3 candidate representations" in at_2gb.describe()
    with pytest.warns(UserWarning, match=r"raise memory_limit to about 3\.5 GB"):
        at_2gb.warn_if_over()
    two = plan_memory(n, image_bytes=3072, feature_bytes=512, n_classes=10, graphs=3, limit=fixed + 2 * one_graph)
    assert two.graphs_in_memory == 2 and two.fixed_bytes == fixed + 2 * one_graph
    just_under = plan_memory(n, image_bytes=3072, feature_bytes=512, n_classes=10, graphs=3,
                             limit=fixed + 2 * one_graph - 1)
    assert just_under.graphs_in_memory == 1
    every = plan_memory(100_000, image_bytes=3072, feature_bytes=512, n_classes=10, graphs=3)
    assert every.graphs_in_memory == 3 and "kNN graphs for" not in every.describe()
    unlimited = plan_memory(10**7, image_bytes=3072, feature_bytes=512, n_classes=10, graphs=5, limit=None)
    assert unlimited.graphs_in_memory == 5 and not unlimited.over_budget
    with pytest.raises(ValueError, match="graphs must be"):
        plan_memory(10, image_bytes=3, feature_bytes=4, n_classes=2, graphs=-1)
    # bookkeeping alone past the limit: over budget, and no graph
    over = plan_memory(n, image_bytes=3072, feature_bytes=512, n_classes=10, graphs=3, limit="1GB")
    assert over.over_budget and over.graphs_in_memory == 0
    assert "over the limit: 1.3 GB always stays in memory" in over.describe()


def test_a_graphs_bytes_per_item_are_what_the_plan_counts():
    """A real kNN graph with its Poisson system (two-level: past COARSE_FROM items) against
    GRAPH_BYTES_PER_ITEM, counting every array it holds."""
    import torch

    from alwidget.semi import knn_graph
    from alwidget.semi.graph import COARSE_FROM

    def nbytes(obj, seen):
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            return obj.nbytes if obj.base is None else 0
        if isinstance(obj, torch.Tensor):
            if obj.layout == torch.sparse_csr:
                return sum(nbytes(t, seen) for t in (obj.crow_indices(), obj.col_indices(), obj.values()))
            return obj.untyped_storage().nbytes()
        if all(hasattr(obj, a) for a in ("data", "indices", "indptr")):  # scipy sparse
            return obj.data.nbytes + obj.indices.nbytes + obj.indptr.nbytes
        if isinstance(obj, (list, tuple)):
            return sum(nbytes(o, seen) for o in obj)
        if isinstance(obj, dict):
            return sum(nbytes(o, seen) for o in obj.values())
        return sum(nbytes(o, seen) for o in vars(obj).values()) if hasattr(obj, "__dict__") else 0

    n = max(6000, COARSE_FROM + 1000)
    graph = knn_graph(np.random.default_rng(0).normal(size=(n, 32)).astype(np.float32), k=10)
    graph.poisson()
    per_item = nbytes(graph, set()) / n
    assert 0.8 * GRAPH_BYTES_PER_ITEM <= per_item <= 1.1 * GRAPH_BYTES_PER_ITEM, per_item


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 5_000_000), img=st.integers(1, 150_528), feat=st.integers(0, 8192),
       limit=st.integers(800 * 2**20, 64 * 2**30))
def test_what_the_plan_keeps_in_memory_fits_the_budget(n, img, feat, limit):
    plan = plan_memory(n, image_bytes=img, feature_bytes=feat, n_classes=10, limit=limit)
    kept = plan.fixed_bytes + n * (feat * plan.features_in_memory + img * plan.images_in_memory)
    assert kept <= max(limit, plan.fixed_bytes)
    assert 256 <= plan.chunk_rows <= 65536 and plan.chunk_rows % 256 == 0
