"""Speed and memory of the batch acquisition strategies.

Measures, for each case, the wall time of ``strategy.select`` (``time.perf_counter``,
best of ``--repeats`` runs) and its peak memory in two ways:

* **tracemalloc peak**: the largest amount of memory allocated through Python's
  allocator during one call — numpy arrays included, torch tensors *not* included.
* **peak RSS delta**: the rise of the process's resident-set high-water mark during one
  call, over the resident size just before it — everything, torch included. On Linux
  freed heap pages are first returned to the OS (glibc ``malloc_trim``), then the
  high-water mark is reset (``/proc/self/clear_refs``) and read from ``VmHWM``;
  elsewhere ``resource.getrusage(...).ru_maxrss`` is used, which only shows growth
  beyond the largest peak so far (the output says which method ran).

The simple scores (entropy, and BALD where the inputs have posterior samples) are timed
on the same inputs in the same process as a baseline; the table gives the ratio.

Cases (full mode; targets from the design brief):

* BatchBALD, 10 picks from N = 10,000, T = 20, C = 10 (float32): ≤ 5 s
* core-set, 100 picks from 60,000 × 512 features, 100 labeled items as initial centres
  (float32): ≤ 2 s
* BADGE, 100 picks from N = 20,000, C = 100, D = 768 (float32): ≤ 3 s and < 1 GB

Usage::

    python benchmarks/strategy_speed.py            # full sizes (about a minute)
    python benchmarks/strategy_speed.py --quick    # tiny sizes (seconds)
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alwidget.strategies import (  # noqa: E402
    PoolEstimate,
    Strategy,
    bald,
    create_strategy,
    entropy,
)

MB = 1024.0 * 1024.0


@dataclass
class Case:
    """One benchmark case: a strategy, its inputs and targets."""

    label: str
    sizes: str
    strategy: str
    k: int
    estimate: PoolEstimate
    selectable: np.ndarray
    target_s: float
    target_mb: Optional[float] = None


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits


def make_cases(quick: bool, seed: int = 0) -> list:
    """Build the inputs of the three cases (float32, as a model on CPU produces them)."""
    rng = np.random.default_rng(seed)
    if quick:
        bb_n, bb_t, bb_c, bb_k = 500, 8, 5, 5
        cs_n, cs_d, cs_l, cs_k = 3000, 64, 20, 20
        bg_n, bg_c, bg_d, bg_k = 2000, 10, 64, 20
    else:
        bb_n, bb_t, bb_c, bb_k = 10_000, 20, 10, 10
        cs_n, cs_d, cs_l, cs_k = 60_000, 512, 100, 100
        bg_n, bg_c, bg_d, bg_k = 20_000, 100, 768, 100

    # BatchBALD: per-item mean logits plus per-sample noise (consistent samples)
    logits = 2.0 * rng.standard_normal((1, bb_n, bb_c), dtype=np.float32) + rng.standard_normal(
        (bb_t, bb_n, bb_c), dtype=np.float32
    )
    samples = _softmax(logits)
    batchbald_case = Case(
        "BatchBALD",
        f"N={bb_n:,} T={bb_t} C={bb_c} k={bb_k}",
        "batchbald",
        bb_k,
        PoolEstimate(probs_N_C=samples.mean(axis=0), samples_T_N_C=samples),
        np.ones(bb_n, dtype=bool),
        5.0,
    )

    features = rng.standard_normal((cs_n, cs_d), dtype=np.float32)
    probs = _softmax(3.0 * rng.standard_normal((cs_n, 10), dtype=np.float32))
    selectable = np.ones(cs_n, dtype=bool)
    selectable[rng.choice(cs_n, cs_l, replace=False)] = False
    coreset_case = Case(
        "core-set",
        f"N={cs_n:,} D={cs_d} labeled={cs_l} k={cs_k}",
        "coreset",
        cs_k,
        PoolEstimate(probs_N_C=probs, features_N_D=features),
        selectable,
        2.0,
    )

    features = rng.standard_normal((bg_n, bg_d), dtype=np.float32)
    probs = _softmax(3.0 * rng.standard_normal((bg_n, bg_c), dtype=np.float32))
    badge_case = Case(
        "BADGE",
        f"N={bg_n:,} C={bg_c} D={bg_d} k={bg_k}",
        "badge",
        bg_k,
        PoolEstimate(probs_N_C=probs, features_N_D=features),
        np.ones(bg_n, dtype=bool),
        3.0,
        1024.0,
    )
    return [batchbald_case, coreset_case, badge_case]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _status_kb(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _trim_heap() -> None:
    """Return freed heap pages to the OS (glibc), so reused pages count as growth."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_delta_mb(fn: Callable[[], object]) -> Tuple[float, str]:
    """Rise of the resident-set peak during one call (MB) and the method used."""
    gc.collect()
    _trim_heap()
    rss_before = _status_kb("VmRSS")
    if rss_before is not None and _reset_hwm():
        fn()
        hwm = _status_kb("VmHWM")
        if hwm is not None:
            return max(0.0, (hwm - rss_before) / 1024.0), "VmHWM reset"
    scale = 1.0 if platform.system() == "Darwin" else 1024.0  # bytes on macOS, kB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(0.0, (after - before) * scale / MB), "ru_maxrss delta"


def tracemalloc_peak_mb(fn: Callable[[], object]) -> float:
    """Peak of Python-allocator memory (numpy included, torch excluded) in one call."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def run(quick: bool, repeats: int) -> str:
    """Run every case and return the markdown table."""
    import torch

    rows = []
    rss_method = ""
    for case in make_cases(quick):
        strategy = create_strategy(case.strategy)
        estimate = case.estimate

        def call(strategy: Strategy = strategy, case: Case = case) -> np.ndarray:
            return strategy.select(case.estimate, case.k, case.selectable, np.random.default_rng(0))

        picks = call()  # warm-up (lazy imports, torch init)
        assert picks.size == case.k and len(set(picks.tolist())) == case.k
        seconds = best_time(call, repeats)
        traced = tracemalloc_peak_mb(call)
        rss, rss_method = peak_rss_delta_mb(call)
        entropy_s = best_time(partial(entropy, estimate.probs_N_C), repeats)
        if estimate.samples_T_N_C is not None:
            bald_s: Optional[float] = best_time(partial(bald, estimate.samples_T_N_C), repeats)
        else:
            bald_s = None
        met = seconds <= case.target_s and (case.target_mb is None or rss <= case.target_mb)
        target = f"≤ {case.target_s:g} s" + (
            f", < {case.target_mb / 1024:g} GB" if case.target_mb is not None else ""
        )
        rows.append(
            [
                case.label,
                case.sizes,
                f"{seconds:.3f}",
                target,
                ("yes" if met else "NO") if not quick else "(quick)",
                f"{traced:.0f}",
                f"{rss:.0f}",
                f"{entropy_s * 1e3:.1f}",
                f"{seconds / entropy_s:,.0f}×",
                "—" if bald_s is None else f"{bald_s * 1e3:.1f}",
                "—" if bald_s is None else f"{seconds / bald_s:,.0f}×",
            ]
        )

    header = [
        "strategy",
        "sizes",
        "time (s, best)",
        "target",
        "met",
        "tracemalloc peak (MB)",
        "peak RSS Δ (MB)",
        "entropy (ms)",
        "÷ entropy",
        "BALD (ms)",
        "÷ BALD",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.append(
        f"mode: {'quick' if quick else 'full'}, best of {repeats}; float32 inputs; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy "
        f"{np.__version__}, {os.cpu_count()} CPUs; peak RSS method: {rss_method}; "
        "tracemalloc counts numpy/Python allocations only (not torch)."
    )
    return "\n".join(lines)


def main(argv: Optional[list] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (best)")
    args = parser.parse_args(argv)
    print(run(args.quick, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
