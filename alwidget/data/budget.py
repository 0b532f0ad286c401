"""The memory budget: which pool-sized arrays stay in memory, which go to disk, and chunk sizes.

A learner holds, for every pool item, its resized image (``C × S × S`` bytes), its features
(``4 D`` bytes), the model's beliefs (probabilities, scores, posterior samples) and some
bookkeeping (ids, masks). :func:`plan_memory` compares those with ``memory_limit`` and decides:

1. bookkeeping and beliefs always stay in memory (``PER_ITEM_BYTES`` plus ``C`` float64 per
   item);
2. in ``semi`` mode, the kNN graphs of the candidate representations (:data:`GRAPH_BYTES_PER_ITEM`
   per item each) stay in memory as long as they fit in the budget beside 1; the plan keeps as
   many as fit (:attr:`MemoryPlan.graphs_in_memory`), and the candidates without one are judged
   and used with a linear classifier on their features only (no propagation, no pseudo-labels);
3. features stay in memory if they fit in what is left, else they are read from disk in chunks;
4. resized images stay in memory if they fit too, else they live on disk (``cache_dir``) and the
   grid decodes its thumbnails from the pool on demand;
5. posterior samples ``[T, N, C]`` are kept only where they fit or the strategy needs them.

Passes over the pool (images, features, scores) go in chunks of :attr:`MemoryPlan.chunk_rows`
rows, small enough that a chunk's working memory is a small share of the budget.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Optional, Union

__all__ = ["DEFAULT_MEMORY_LIMIT", "BASELINE_BYTES", "PER_ITEM_BYTES", "GRAPH_BYTES_PER_ITEM", "MemoryPlan",
           "parse_bytes", "plan_memory", "format_bytes"]

DEFAULT_MEMORY_LIMIT = "2GB"
"""The default budget for a learner's resident memory."""

BASELINE_BYTES = 700 * 2**20
"""Resident memory of a learner before any pool-sized array: Python, torch, scipy, scikit-learn,
the model (measured here: about 600 MB after ``import alwidget`` and one cycle on 100 items)."""

PER_ITEM_BYTES = 600
"""Bookkeeping per pool item that always stays in memory: the id string and its list and dict
entries (about 200 B, in the pool and the learner), masks, uncertainty and scores (float64), and
the strategy's temporaries (measured: see ``benchmarks/large_pool.py``)."""

GRAPH_BYTES_PER_ITEM = 768
"""One kNN graph per item with its Poisson system (``k = 10``: the symmetrised CSR weights, the
neighbour lists, the float32 operator on torch and the two-level preconditioner's clusters):
measured 342 B per item for the graph and 734-744 B with its Poisson system at 10,000 and
40,000 items (``tests/data/test_chunked.py`` checks a built one against this)."""

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def parse_bytes(value: Union[int, float, str, None]) -> Optional[int]:
    """A memory size in bytes from ``2_000_000_000``, ``"2GB"``, ``"512 MiB"``, ``"1.5g"``; ``None``
    stays ``None`` (no limit). Units are binary (``"1GB"`` is 2**30 bytes).

    Raises
    ------
    ValueError
        A negative, zero or unreadable size.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"memory_limit must be a size such as '2GB' or a number of bytes, got {value!r}")
    if isinstance(value, (int, float)):
        n = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"memory_limit {value!r} is not a size; write it like '2GB', '512MB' or 2000000000")
        n = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not n > 0:
        raise ValueError(f"memory_limit must be positive, got {value!r}")
    return int(n)


def format_bytes(n: float) -> str:
    """``1536 → '1.5 KB'`` (binary units)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


@dataclass(frozen=True)
class MemoryPlan:
    """Where a learner keeps its pool-sized arrays.

    Attributes
    ----------
    limit : int or None
        The budget in bytes (``None``: no limit, everything in memory).
    n_items : int
        ``N``.
    images_in_memory : bool
        Resized images ``[N, C, S, S]`` uint8 in memory (else on disk, in chunks).
    features_in_memory : bool
        Features ``[N, D]`` float32 in memory (else on disk, read in chunks).
    keep_samples : bool
        Posterior samples ``[T, N, C]`` fit (strategies that do not need them get none otherwise).
    chunk_rows : int
        Rows per chunk of every pass over the pool.
    fixed_bytes : int
        What the plan counts as always resident: baseline plus bookkeeping, beliefs and the graphs
        kept.
    graphs_wanted : int
        kNN graphs the recipe would keep with no limit (one per candidate representation the
        labels may choose, ``semi`` mode; 0 otherwise).
    graphs_in_memory : int
        How many of them the budget holds (:attr:`graphs_wanted` without a limit). A candidate
        representation beyond them gets no graph: the labels judge it, and the fast cycle learns
        on it, with a linear classifier only.
    """

    limit: Optional[int]
    n_items: int
    images_in_memory: bool
    features_in_memory: bool
    keep_samples: bool
    chunk_rows: int
    fixed_bytes: int
    graphs_wanted: int = 0
    graphs_in_memory: int = 0

    @property
    def over_budget(self) -> bool:
        """What always stays in memory (:attr:`fixed_bytes`) is already more than the limit."""
        return self.limit is not None and self.fixed_bytes > self.limit

    @property
    def graphs_dropped(self) -> int:
        """Candidate representations that get no kNN graph because the budget cannot hold it."""
        return self.graphs_wanted - self.graphs_in_memory

    @property
    def on_disk(self) -> bool:
        """Some array lives on disk."""
        return not (self.images_in_memory and self.features_in_memory)

    def warn_if_over(self, stacklevel: int = 2) -> None:
        """Warn (``UserWarning``) when the plan is :attr:`over_budget` or holds fewer kNN graphs than
        the recipe wants (:attr:`graphs_dropped`), saying what to do; ``stacklevel`` as for
        :func:`warnings.warn` called where this is called."""
        if self.graphs_dropped and not self.over_budget:
            need = self.fixed_bytes + self.graphs_dropped * self.n_items * GRAPH_BYTES_PER_ITEM
            warnings.warn(f"{self.describe()}. To keep every candidate's graph, raise memory_limit to about "
                          f"{format_bytes(need)}", UserWarning, stacklevel=stacklevel + 1)
        if self.over_budget:
            warnings.warn(f"{self.describe()}: the learner will use more than memory_limit. Raise memory_limit "
                          "(the per-item bookkeeping alone is more than it holds)", UserWarning,
                          stacklevel=stacklevel + 1)

    def describe(self) -> str:
        """One line for status and reports."""
        if self.limit is None:
            return "no memory limit: the pool's images and features are held in memory"
        where = []
        where.append("images in memory" if self.images_in_memory else "images on disk")
        where.append("features in memory" if self.features_in_memory else "features on disk")
        if self.graphs_dropped:
            where.append(f"kNN graphs for {self.graphs_in_memory} of {self.graphs_wanted} candidate "
                         "representations (a candidate without one: a linear classifier only)")
        over = (f"; over the limit: {format_bytes(self.fixed_bytes)} always stays in memory (the interpreter, "
                "per-item bookkeeping, beliefs and kNN graphs)") if self.over_budget else ""
        return (f"memory limit {format_bytes(self.limit)} for {self.n_items:,} items: {', '.join(where)}, "
                f"chunks of {self.chunk_rows:,} rows{over}")


def plan_memory(n_items: int, *, image_bytes: int, feature_bytes: int, n_classes: int, sample_bytes: int = 0,
                graphs: int = 0, limit: Union[int, str, None] = DEFAULT_MEMORY_LIMIT, min_chunk: int = 256,
                max_chunk: int = 65536) -> MemoryPlan:
    """Decide what stays in memory for a pool of ``n_items``.

    Parameters
    ----------
    n_items : int
        ``N``.
    image_bytes : int
        Bytes of one resized image (``C × S × S``).
    feature_bytes : int
        Bytes of one item's features (``4 D``; 0 before the trunk is known).
    n_classes : int
        ``C`` (beliefs are ``C`` float64 per item).
    sample_bytes : int
        Bytes of one item's posterior samples (``4 T C``).
    graphs : int
        kNN graphs the recipe would keep at once (``semi`` mode: one per candidate
        representation), :data:`GRAPH_BYTES_PER_ITEM` per item each. The plan keeps as many as
        the budget holds beside the bookkeeping and beliefs (:attr:`MemoryPlan.graphs_in_memory`);
        they come before features and images.
    limit : int, str or None
        The budget (see :func:`parse_bytes`); ``None`` keeps everything in memory.
    min_chunk, max_chunk : int
        Bounds of :attr:`MemoryPlan.chunk_rows`.

    Returns
    -------
    MemoryPlan
    """
    n, wanted = int(n_items), int(graphs)
    if wanted < 0:
        raise ValueError(f"graphs must be ≥ 0, got {graphs}")
    budget = parse_bytes(limit)
    fixed = BASELINE_BYTES + n * (PER_ITEM_BYTES + 8 * int(n_classes))
    if budget is None:
        return MemoryPlan(None, n, True, True, True, max(min_chunk, min(max_chunk, 8192)),
                          fixed + wanted * n * GRAPH_BYTES_PER_ITEM, wanted, wanted)
    kept = wanted if n == 0 else int(min(wanted, max(0, budget - fixed) // (n * GRAPH_BYTES_PER_ITEM)))
    fixed += kept * n * GRAPH_BYTES_PER_ITEM
    free = budget - fixed
    features_in = n * feature_bytes <= 0.6 * free
    left = free - (n * feature_bytes if features_in else 0)
    images_in = n * image_bytes <= 0.6 * left
    left -= n * image_bytes if images_in else 0
    keep_samples = n * sample_bytes <= 0.5 * left
    # a chunk's working memory: its images as float32 (4x) twice over, features, samples, beliefs
    per_row = 8 * image_bytes + 2 * feature_bytes + 3 * sample_bytes + 64
    rows = int(max(free, 64 * 2**20) // 16 // max(1, per_row))
    rows = max(min_chunk, min(max_chunk, rows))
    rows = max(min_chunk, (rows // 256) * 256)
    return MemoryPlan(budget, n, images_in, features_in, keep_samples, rows, fixed, wanted, kept)
